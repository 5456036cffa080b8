"""Daemon configuration: dockerd's flag names, merged with a daemon.json file.

As with dockerd, a directive given both as a flag and in the file is an error,
so that no one has to guess which one wins.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtimes import DEFAULT_RUNTIME, RuntimeTable

DEFAULT_SOCKET = "unix:///run/moorage/moorage.sock"
SOCKET_GROUP = "docker"  # dockerd's default group of the socket
DEFAULT_CONFIG_FILE = "/etc/moorage/daemon.json"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")


CONTAINERD_BACKENDS = ("auto", "local", "remote")


class ConfigError(ValueError):
    pass


@dataclass
class DaemonConfig:
    hosts: list[str] = field(default_factory=lambda: [DEFAULT_SOCKET])
    containerd: str = ""  # empty: start and supervise our own containerd
    containerd_namespace: str = "moorage"
    # libcontainerd's backend: "remote" (containerd), "local" (runc alone, issue 17), or
    # "auto": remote when a containerd socket is given or containerd is installed.
    containerd_backend: str = "auto"
    data_root: Path = Path("/var/lib/moorage")
    exec_root: Path = Path("/run/moorage")
    default_runtime: str = DEFAULT_RUNTIME
    add_runtimes: list[str] = field(default_factory=list)
    file_runtimes: dict[str, dict[str, Any]] = field(default_factory=dict)
    debug: bool = False
    log_level: str = "info"
    metrics_addr: str = ""
    insecure_registries: list[str] = field(default_factory=list)
    registry_mirrors: list[str] = field(default_factory=list)
    config_file: str = DEFAULT_CONFIG_FILE
    # dockerd's -b/--bridge: "none" turns bridge networking off (containers get a
    # namespace with loopback only and the daemon makes no link); anything else keeps
    # the default bridge network on moorage's own device.
    bridge: str = ""
    # dockerd's --no-new-privileges: containers get no_new_privs unless they opt out.
    no_new_privileges: bool = False
    # dockerd's -G/--group: the unix socket's group; group_given: named by the user.
    group: str = SOCKET_GROUP
    group_given: bool = False
    # dockerd's TLS flags, for tcp:// hosts; tlsverify implies tls.
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""
    # Plain TCP on an address other machines reach: root for anyone there. Off unless asked.
    allow_insecure_tcp: bool = False

    def runtimes(self) -> RuntimeTable:
        try:
            return RuntimeTable.from_config(
                self.add_runtimes, self.file_runtimes, self.default_runtime
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc

    @property
    def networking(self) -> bool:
        """Bridge networking on (links, addresses, routes in the daemon's namespace)."""
        return self.bridge != "none"

    @property
    def managed_containerd_dir(self) -> Path:
        return self.data_root / "containerd"


# flag dest -> (daemon.json key, DaemonConfig attribute)
_FILE_KEYS = {
    "hosts": "hosts",
    "containerd": "containerd",
    "containerd_namespace": "containerd-namespace",
    "containerd_backend": "containerd-backend",
    "data_root": "data-root",
    "exec_root": "exec-root",
    "default_runtime": "default-runtime",
    "debug": "debug",
    "log_level": "log-level",
    "metrics_addr": "metrics-addr",
    "insecure_registries": "insecure-registries",
    "registry_mirrors": "registry-mirrors",
    "bridge": "bridge",
    "no_new_privileges": "no-new-privileges",
    "group": "group",
    "tls": "tls",
    "tlsverify": "tlsverify",
    "tlscacert": "tlscacert",
    "tlscert": "tlscert",
    "tlskey": "tlskey",
    "allow_insecure_tcp": "allow-insecure-tcp",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mooraged", description="A Docker Engine API daemon on containerd."
    )
    p.add_argument("-H", "--host", dest="hosts", action="append", help="socket(s) to listen on")
    p.add_argument("--containerd", help="containerd socket (default: run a managed containerd)")
    p.add_argument("--containerd-namespace", dest="containerd_namespace")
    p.add_argument("--containerd-backend", dest="containerd_backend", help="local, remote or auto")
    p.add_argument("--data-root", dest="data_root")
    p.add_argument("--exec-root", dest="exec_root")
    p.add_argument("--default-runtime", dest="default_runtime")
    p.add_argument("--add-runtime", dest="add_runtimes", action="append", default=None)
    p.add_argument("--config-file", dest="config_file", default=DEFAULT_CONFIG_FILE)
    p.add_argument("-D", "--debug", action="store_const", const=True, default=None)
    p.add_argument("-l", "--log-level", dest="log_level", choices=LOG_LEVELS)
    p.add_argument("--metrics-addr", dest="metrics_addr")
    p.add_argument("--insecure-registry", dest="insecure_registries", action="append")
    p.add_argument("--registry-mirror", dest="registry_mirrors", action="append")
    p.add_argument("-b", "--bridge", dest="bridge")
    p.add_argument(
        "--no-new-privileges",
        dest="no_new_privileges",
        action="store_const",
        const=True,
        default=None,
        help="set no_new_privs for new containers",
    )
    p.add_argument("-G", "--group", dest="group", help="group of the unix socket")
    _switch(p, "--tls", "tls", "TLS on tcp:// hosts")
    _switch(p, "--tlsverify", "tlsverify", "TLS, and require client certificates")
    p.add_argument("--tlscacert", dest="tlscacert", help="CA that signs client certificates")
    p.add_argument("--tlscert", dest="tlscert", help="the server's certificate")
    p.add_argument("--tlskey", dest="tlskey", help="the server's key")
    _switch(p, "--allow-insecure-tcp", "allow_insecure_tcp", "plain TCP on non-loopback hosts")
    return p


def _switch(p: argparse.ArgumentParser, flag: str, dest: str, help: str) -> None:
    """A flag without value; None when absent, so that daemon.json may set it instead."""
    p.add_argument(flag, dest=dest, action="store_const", const=True, default=None, help=help)


def _read_file(path: str, explicit: bool) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(
                f"unable to configure the daemon: open {path}: no such file"
            ) from None
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"unable to configure the daemon from {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"unable to configure the daemon from {path}: not a JSON object")
    return data


def load_config(argv: list[str] | None = None) -> DaemonConfig:
    args = _parser().parse_args(argv)
    explicit_file = args.config_file != DEFAULT_CONFIG_FILE
    file_data = _read_file(args.config_file, explicit_file)
    known = set(_FILE_KEYS.values()) | {"runtimes"}
    unknown = sorted(set(file_data) - known)
    if unknown:
        raise ConfigError(
            f"the following directives don't match any configuration option: {', '.join(unknown)}"
        )
    both = sorted(
        key
        for dest, key in _FILE_KEYS.items()
        if key in file_data and getattr(args, dest) is not None
    )
    if both:
        raise ConfigError(
            "the following directives are specified both as a flag and in the configuration "
            f"file: {', '.join(both)}"
        )
    config = DaemonConfig(config_file=args.config_file)
    for dest, key in _FILE_KEYS.items():
        value = getattr(args, dest)
        if value is None:
            value = file_data.get(key)
        if value is None:
            continue
        if dest in ("data_root", "exec_root"):
            value = Path(value)
        setattr(config, dest, value)
    if config.containerd_backend not in CONTAINERD_BACKENDS:
        raise ConfigError(f"invalid containerd backend {config.containerd_backend!r}")
    config.add_runtimes = list(args.add_runtimes or [])
    runtimes = file_data.get("runtimes", {})
    if not isinstance(runtimes, dict):
        raise ConfigError("runtimes in the configuration file must be an object")
    config.file_runtimes = runtimes
    if config.debug:
        config.log_level = "debug"
    config.group_given = args.group is not None or "group" in file_data
    if config.tlsverify:
        config.tls = True
    if config.tls:
        home = Path.home() / ".docker"  # dockerd's defaults
        config.tlscacert = config.tlscacert or str(home / "ca.pem")
        config.tlscert = config.tlscert or str(home / "cert.pem")
        config.tlskey = config.tlskey or str(home / "key.pem")
    config.runtimes()  # validate now, not at the first container
    return config
