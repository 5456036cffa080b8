"""dockerd's daemon options as moorage takes them: one row of `OPTIONS` each (its
daemon.json key, its flags, its kind, its help line, whether SIGHUP reloads it), the
dockerd options moorage refuses and why (`REFUSED`), and the command line they make.
docs/daemon-options.md is the same table for people.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

DEFAULT_CONFIG_FILE = "/etc/moorage/daemon.json"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
LOG_DRIVERS = ("json-file", "none")  # as daemon.logs.config.DRIVERS


@dataclass(frozen=True)
class Option:
    key: str  # daemon.json key
    flags: tuple[str, ...]  # dockerd's flag names (first: the long one shown first)
    kind: str  # str, bool, int, list, map, ulimits, path, size, runtimes
    help: str
    reloadable: bool = False  # SIGHUP applies it (dockerd's reloadable keys)
    attr: str = ""  # DaemonConfig attribute; default: the key with underscores

    @property
    def dest(self) -> str:
        return self.attr or self.key.replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("hosts", ("-H", "--host"), "list", "daemon socket(s) to listen on: unix://path, "
           "tcp://host:port or fd:// (systemd socket activation)"),
    Option("group", ("-G", "--group"), "str", "group of the unix socket(s) (default docker)"),
    Option("pidfile", ("-p", "--pidfile"), "str",
           "path of the daemon's PID file (default <exec-root>/moorage.pid)"),
    Option("data-root", ("--data-root",), "path", "root of moorage's persistent state "
           "(default /var/lib/moorage)"),
    Option("exec-root", ("--exec-root",), "path", "root of moorage's run-time state "
           "(default /run/moorage)"),
    Option("containerd", ("--containerd",), "str",
           "containerd socket to use (default: start and supervise a managed containerd)"),
    Option("containerd-backend", ("--containerd-backend",), "str",
           "libcontainerd backend: remote (containerd), local (runc alone) or auto "
           "(remote when a containerd socket is given or containerd is installed)"),
    Option("containerd-namespace", ("--containerd-namespace",), "str",
           "containerd namespace of the containers and images (default moorage)"),
    Option("debug", ("-D", "--debug"), "bool", "debug mode (log level debug)", reloadable=True),
    Option("log-level", ("-l", "--log-level"), "str",
           f"the daemon's log level: {', '.join(LOG_LEVELS)} (default info)", reloadable=True),
    Option("log-format", ("--log-format",), "str",
           "format of the daemon's log lines: text or json (default text)"),
    Option("live-restore", ("--live-restore",), "bool",
           "keep containers running while the daemon is down (default false: stop them "
           "at shutdown)", reloadable=True),
    Option("shutdown-timeout", ("--shutdown-timeout",), "int",
           "seconds to wait for containers to stop at shutdown (default 15)", reloadable=True),
    Option("labels", ("--label",), "list", "a label of this daemon (key=value), shown by "
           "docker info", reloadable=True),
    Option("metrics-addr", ("--metrics-addr",), "str",
           "host:port of the Prometheus metrics endpoint (default: none)"),
    Option("default-runtime", ("--default-runtime",), "str",
           "OCI runtime of containers that name none (default runc)", reloadable=True),
    Option("runtimes", ("--add-runtime",), "runtimes",
           "another OCI runtime, name=path", reloadable=True,
           attr="add_runtimes"),
    Option("exec-opts", ("--exec-opt",), "list",
           "runtime execution option: native.cgroupdriver=cgroupfs"),
    Option("cgroup-parent", ("--cgroup-parent",), "str",
           "parent cgroup of containers that name none (default /moorage)"),
    Option("default-ulimits", ("--default-ulimit",), "ulimits",
           "ulimit of containers that set none of that name, name=soft[:hard]"),
    Option("default-shm-size", ("--default-shm-size",), "size",
           "size of /dev/shm of containers that set none (default 64M)"),
    Option("log-driver", ("--log-driver",), "str",
           f"log driver of containers that name none: {', '.join(LOG_DRIVERS)} "
           "(default json-file)"),
    Option("log-opts", ("--log-opt",), "map", "option of the default log driver, key=value"),
    Option("no-new-privileges", ("--no-new-privileges",), "bool",
           "set no_new_privs for new containers"),
    Option("seccomp-profile", ("--seccomp-profile",), "str",
           "seccomp profile of containers that name none: a file, builtin or unconfined"),
    Option("dns", ("--dns",), "list", "DNS server of containers that name none"),
    Option("dns-search", ("--dns-search",), "list",
           "DNS search domain of containers that name none"),
    Option("dns-opts", ("--dns-opt",), "list", "DNS option of containers that name none"),
    Option("bridge", ("-b", "--bridge"), "str",
           "none: no bridge networking (containers get loopback only)"),
    Option("bip", ("--bip",), "str",
           "the default bridge's gateway address and subnet, e.g. 10.20.0.1/24"),
    Option("fixed-cidr", ("--fixed-cidr",), "str",
           "the part of the default bridge's subnet containers get addresses from"),
    Option("default-address-pools", ("--default-address-pool",), "pools",
           "where networks without a subnet get theirs: base=CIDR,size=prefix length"),
    Option("iptables", ("--iptables",), "bool",
           "packet filter rules for the bridge network (default true; false needs -b none)"),
    Option("ip-forward", ("--ip-forward",), "bool",
           "enable IP forwarding for the bridge network (default true; false needs -b none)"),
    Option("ip-masq", ("--ip-masq",), "bool",
           "masquerade the bridge network's traffic (default true; false needs -b none)"),
    Option("max-concurrent-downloads", ("--max-concurrent-downloads",), "int",
           "layers downloaded at once by a pull (default 3)", reloadable=True),
    Option("max-concurrent-uploads", ("--max-concurrent-uploads",), "int",
           "layers uploaded at once by a push (default 5)", reloadable=True),
    Option("max-download-attempts", ("--max-download-attempts",), "int",
           "tries of each layer download of a pull (default 5)", reloadable=True),
    Option("registry-mirrors", ("--registry-mirror",), "list",
           "mirror of Docker Hub to pull from first", reloadable=True),
    Option("insecure-registries", ("--insecure-registry",), "list",
           "registry to reach over plain HTTP or unverified TLS", reloadable=True),
    Option("tls", ("--tls",), "bool", "TLS on tcp:// hosts (implied by --tlsverify)"),
    Option("tlsverify", ("--tlsverify",), "bool", "TLS, and require client certificates"),
    Option("tlscacert", ("--tlscacert",), "str", "CA that signs client certificates"),
    Option("tlscert", ("--tlscert",), "str", "the server's TLS certificate"),
    Option("tlskey", ("--tlskey",), "str", "the server's TLS key"),
    Option("allow-insecure-tcp", ("--allow-insecure-tcp",), "bool",
           "accept plain TCP on non-loopback hosts (anyone reaching it is root)"),
)  # fmt: skip

# dockerd's options that moorage does not honour, and why (the start-up refuses them).
REFUSED: dict[str, str] = {
    "storage-driver": "images are stored by containerd's overlayfs snapshotter",
    "storage-opts": "images are stored by containerd's overlayfs snapshotter",
    "userns-remap": "user namespaces are not supported",
    "ipv6": "networks are IPv4 only",
    "fixed-cidr-v6": "networks are IPv4 only",
    "ip6tables": "networks are IPv4 only",
    "default-gateway": "the default bridge's gateway is its subnet's first address",
    "default-gateway-v6": "networks are IPv4 only",
    "ip": "published ports bind the address each port names (default all)",
    "icc": "containers on a bridge always reach each other",
    "mtu": "links take the kernel's default MTU",
    "userland-proxy": "published ports are forwarded by nftables rules only",
    "userland-proxy-path": "published ports are forwarded by nftables rules only",
    "selinux-enabled": "SELinux labels are not applied",
    "init": "no init process is injected into containers",
    "init-path": "no init process is injected into containers",
    "default-cgroupns-mode": "the cgroup namespace follows the cgroup version",
    "default-ipc-mode": "containers get a private IPC namespace",
    "experimental": "there are no experimental features",
    "features": "there are no optional features (BuildKit is not part of moorage)",
    "builder": "there is no image builder",
    "authorization-plugins": "plugins are not supported",
    "cluster-store": "swarm and cluster stores are not supported",
    "cluster-store-opts": "swarm and cluster stores are not supported",
    "cluster-advertise": "swarm and cluster stores are not supported",
    "swarm-default-advertise-addr": "swarm mode is not supported",
    "node-generic-resources": "swarm mode is not supported",
    "api-cors-header": "the API answers no CORS requests",
    "allow-nondistributable-artifacts": "foreign layers are pulled from where they point",
    "oom-score-adjust": "set the daemon's OOM score in its service unit (OOMScoreAdjust=)",
    "raw-logs": "log lines are always in logfmt (or JSON with log-format)",
    "containerd-plugins-namespace": "plugins are not supported",
    "cpu-rt-period": "real-time scheduling is not supported",
    "cpu-rt-runtime": "real-time scheduling is not supported",
    "rootless": "moorage runs as root",
    "default-network-opts": "networks take their options at create",
    "host-gateway-ip": "host-gateway is the default bridge's gateway",
}

# The flags of the refused options (kept out of --help; given, they are refused alike).
REFUSED_FLAGS: dict[str, tuple[str, ...]] = {
    "storage-driver": ("-s", "--storage-driver"),
    "storage-opts": ("--storage-opt",),
    "userns-remap": ("--userns-remap",),
    "ipv6": ("--ipv6",),
    "fixed-cidr-v6": ("--fixed-cidr-v6",),
    "ip6tables": ("--ip6tables",),
    "default-gateway": ("--default-gateway",),
    "ip": ("--ip",),
    "icc": ("--icc",),
    "mtu": ("--mtu",),
    "userland-proxy": ("--userland-proxy",),
    "selinux-enabled": ("--selinux-enabled",),
    "init": ("--init",),
    "default-cgroupns-mode": ("--default-cgroupns-mode",),
    "default-ipc-mode": ("--default-ipc-mode",),
    "experimental": ("--experimental",),
    "authorization-plugins": ("--authorization-plugin",),
    "oom-score-adjust": ("--oom-score-adjust",),
    "raw-logs": ("--raw-logs",),
    "rootless": ("--rootless",),
    "api-cors-header": ("--api-cors-header",),
    "cluster-store": ("--cluster-store",),
    "cluster-store-opts": ("--cluster-store-opt",),
    "cluster-advertise": ("--cluster-advertise",),
    "cpu-rt-period": ("--cpu-rt-period",),
    "cpu-rt-runtime": ("--cpu-rt-runtime",),
    "default-gateway-v6": ("--default-gateway-v6",),
    "userland-proxy-path": ("--userland-proxy-path",),
    "init-path": ("--init-path",),
    "containerd-plugins-namespace": ("--containerd-plugins-namespace",),
    "swarm-default-advertise-addr": ("--swarm-default-advertise-addr",),
    "node-generic-resources": ("--node-generic-resource",),
    "allow-nondistributable-artifacts": ("--allow-nondistributable-artifacts",),
    "host-gateway-ip": ("--host-gateway-ip",),
}

BY_KEY = {option.key: option for option in OPTIONS}
RELOADABLE = tuple(option.key for option in OPTIONS if option.reloadable)


def _bool_text(text: str) -> bool:
    """Go's flag package: a bool flag alone is true, or --flag=true|false."""
    lowered = text.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f'parse error on "{text}": invalid syntax')


# Go's flag package names a flag's value by its type in --help.
_METAVARS = {"bool": "true|false", "int": "int", "list": "list", "map": "map",
             "ulimits": "ulimit", "size": "bytes", "runtimes": "name=path",
    "pools": "base=CIDR,size=N"}  # fmt: skip


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mooraged",
        description="A Docker Engine API daemon on containerd. Options are dockerd's; each "
        "may be given in the configuration file instead, under its daemon.json key.",
        allow_abbrev=False,
    )
    p.add_argument(
        "--config-file",
        dest="config_file",
        default=DEFAULT_CONFIG_FILE,
        help=f"daemon.json to read (default {DEFAULT_CONFIG_FILE})",
    )
    p.add_argument(
        "--validate",
        action="store_true",
        help="check the flags and the configuration file, then exit",
    )
    for option in OPTIONS:
        shown = option.help
        if option.key != option.flags[-1].lstrip("-"):
            shown += f" [daemon.json: {option.key}]"
        kwargs: dict[str, Any] = {
            "dest": option.key,
            "default": None,
            "help": shown,
            "metavar": _METAVARS.get(option.kind, "string"),
        }
        if option.kind == "bool":
            kwargs.update(nargs="?", const=True, type=_bool_text)
        elif option.kind == "int":
            kwargs.update(type=int)
        elif option.kind in ("list", "map", "ulimits", "runtimes", "pools"):
            kwargs.update(action="append")
        p.add_argument(*option.flags, **kwargs)
    for key, flags in REFUSED_FLAGS.items():
        p.add_argument(
            *flags, dest=f"refused:{key}", nargs="?", const="", default=None, help=argparse.SUPPRESS
        )
    return p
