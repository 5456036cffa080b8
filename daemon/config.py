"""Daemon configuration: dockerd's flags (daemon/options.py), merged with a daemon.json
file, checked, and read again on SIGHUP.

Flags and file keys are dockerd's. As with dockerd,
a directive given both as a flag and in the file is an error, so that no one has to
guess which one wins. A dockerd option moorage cannot honour (`REFUSED`) stops the
start-up with a message naming it and why: it is never silently ignored.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from daemon.images.registry.concurrency import (
    MAX_CONCURRENT_DOWNLOADS,
    MAX_CONCURRENT_UPLOADS,
    MAX_DOWNLOAD_ATTEMPTS,
)
from daemon.logs.config import LogOptionError, parse_ram_size, validate_log_config
from daemon.network.model import DEFAULT_BRIDGE_DEVICE
from daemon.oci.errors import SpecError
from daemon.oci.seccomp_profile import decode_profile
from daemon.oci.validate import ULIMIT_NAMES
from daemon.options import (
    BY_KEY,
    DEFAULT_CONFIG_FILE,
    LOG_DRIVERS,
    LOG_LEVELS,
    OPTIONS,
    REFUSED,
    RELOADABLE,
    Option,
    parser,
)
from runtimes import DEFAULT_RUNTIME, RuntimeTable

DEFAULT_SOCKET = "unix:///run/moorage/moorage.sock"
SOCKET_GROUP = "docker"  # dockerd's default group of the socket
LOG_FORMATS = ("text", "json")
CGROUP_DRIVERS = ("cgroupfs",)
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
DEFAULT_SHUTDOWN_TIMEOUT = 15  # dockerd's
PIDFILE_NAME = "moorage.pid"  # under exec-root unless --pidfile says otherwise


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
    log_format: str = "text"
    metrics_addr: str = ""
    insecure_registries: list[str] = field(default_factory=list)
    registry_mirrors: list[str] = field(default_factory=list)
    max_concurrent_downloads: int = MAX_CONCURRENT_DOWNLOADS
    max_concurrent_uploads: int = MAX_CONCURRENT_UPLOADS
    max_download_attempts: int = MAX_DOWNLOAD_ATTEMPTS
    config_file: str = DEFAULT_CONFIG_FILE
    # dockerd's -b/--bridge: "none" turns bridge networking off (containers get a
    # namespace with loopback only and the daemon makes no link); anything else keeps
    # the default bridge network on moorage's own device.
    bridge: str = ""
    iptables: bool = True
    ip_forward: bool = True
    ip_masq: bool = True
    # dockerd's --no-new-privileges: containers get no_new_privs unless they opt out.
    no_new_privileges: bool = False
    # dockerd's --seccomp-profile: "" or "builtin" (the default profile), "unconfined",
    # or a profile file's path (its text is kept in seccomp_profile_text).
    seccomp_profile: str = ""
    seccomp_profile_text: str = ""
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
    # Shutdown: without live restore, running containers are stopped (their stop signal,
    # then SIGKILL after their stop timeout), all at once, the daemon waiting at most
    # shutdown_timeout (or the longest stop timeout + 5 s, as dockerd).
    live_restore: bool = False
    shutdown_timeout: int = DEFAULT_SHUTDOWN_TIMEOUT
    pidfile: str = ""  # empty: <exec-root>/moorage.pid
    labels: list[str] = field(default_factory=list)
    # Defaults for containers that do not say otherwise.
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    default_ulimits: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_shm_size: int = DEFAULT_SHM_SIZE
    cgroup_parent: str = ""  # empty: daemon.container.spec's CGROUP_PARENT
    exec_opts: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_opts: list[str] = field(default_factory=list)
    # Addresses of the bridge networks (dockerd's bip, fixed-cidr, default-address-pools).
    bip: str = ""
    fixed_cidr: str = ""
    default_address_pools: list[dict[str, Any]] = field(default_factory=list)

    def address_pools(self) -> tuple[tuple[str, int], ...]:
        """default-address-pools as (base, size) pairs; empty: dockerd's defaults."""
        return tuple((str(p["base"]), int(p["size"])) for p in self.default_address_pools)

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

    @property
    def pidfile_path(self) -> Path:
        return Path(self.pidfile) if self.pidfile else self.exec_root / PIDFILE_NAME

    @property
    def cgroup_driver(self) -> str:
        return _exec_opt(self.exec_opts, "native.cgroupdriver") or "cgroupfs"

    def ulimits(self) -> list[dict[str, Any]]:
        """default-ulimits as HostConfig.Ulimits entries."""
        return [dict(entry) for entry in self.default_ulimits.values()]


# -- reading values -------------------------------------------------------------------------


def _flag_value(option: Option, raw: Any) -> Any:
    """A flag's parsed argparse value in the shape of the file's JSON value."""
    if option.kind == "map":
        out: dict[str, str] = {}
        for item in raw:
            name, sep, value = str(item).partition("=")
            if not sep:
                raise ConfigError(f"invalid {option.flags[-1]} {item!r}: expected key=value")
            out[name] = value
        return out
    if option.kind == "ulimits":
        return {entry["Name"]: entry for entry in (_parse_ulimit(str(item)) for item in raw)}
    if option.kind == "pools":
        return [_parse_pool(str(item)) for item in raw]
    return raw


def _parse_pool(text: str) -> dict[str, Any]:
    """dockerd's --default-address-pool base=10.10.0.0/16,size=24."""
    fields = dict(part.partition("=")[::2] for part in text.split(","))
    try:
        return {"base": fields["base"], "size": int(fields["size"])}
    except (KeyError, ValueError):
        raise ConfigError(f"invalid default-address-pool {text!r}: base=CIDR,size=N") from None


def _parse_ulimit(text: str) -> dict[str, Any]:
    name, sep, limits = text.partition("=")
    soft, _, hard = limits.partition(":")
    try:
        if not sep:
            raise ValueError
        soft_value = int(soft)
        hard_value = int(hard) if hard else soft_value
    except ValueError:
        raise ConfigError(f"invalid ulimit argument: {text}") from None
    return {"Name": name, "Soft": soft_value, "Hard": hard_value}


def _check_file_value(option: Option, value: Any) -> Any:
    """A daemon.json value of the option's kind; ConfigError naming the key otherwise."""
    kind = option.kind

    def wrong(expected: str) -> ConfigError:
        return ConfigError(f"{option.key} in the configuration file must be {expected}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise wrong("true or false")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("an integer")
    elif kind in ("str", "path", "size"):
        if not isinstance(value, str):
            raise wrong("a string")
    elif kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong("a list of strings")
    elif kind == "map":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise wrong("an object of strings")
    elif kind == "pools":
        if not isinstance(value, list) or not all(
            isinstance(v, dict)
            and isinstance(v.get("base"), str)
            and isinstance(v.get("size"), int)
            for v in value
        ):
            raise wrong('a list of {"base": CIDR, "size": N} objects')
    elif kind in ("ulimits", "runtimes"):
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise wrong("an object of objects")
        if kind == "ulimits":
            value = {
                name: {"Name": name, "Soft": entry.get("Soft"), "Hard": entry.get("Hard")}
                for name, entry in value.items()
            }
            for entry in value.values():
                if not all(isinstance(entry[k], int) for k in ("Soft", "Hard")):
                    raise wrong('an object of {"Name", "Soft", "Hard"} objects')
    return value


def _go_value(value: Any) -> str:
    """A value as dockerd prints it in its conflict message (Go's %v)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_value(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def read_file(path: str, explicit: bool) -> dict[str, Any]:
    """daemon.json as an object; {} when the default file does not exist."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(
                f"unable to configure the daemon with file {path}: open {path}: "
                "no such file or directory"
            ) from None
        return {}
    except OSError as exc:
        raise ConfigError(f"unable to configure the daemon with file {path}: {exc}") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"unable to configure the daemon with file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"unable to configure the daemon with file {path}: the file must hold a JSON object"
        )
    return data


def _check_keys(path: str, file_data: Mapping[str, Any], args: argparse.Namespace) -> None:
    """Unknown keys, refused options (file or flag) and flag-and-file duplicates."""
    refused = sorted(
        {key for key in file_data if key in REFUSED}
        | {key for key in REFUSED if getattr(args, f"refused:{key}", None) is not None}
    )
    if refused:
        raise ConfigError(
            "dockerd options moorage does not support: "
            + "; ".join(f"{key} ({REFUSED[key]})" for key in refused)
        )
    unknown = sorted(set(file_data) - set(BY_KEY))
    if unknown:
        raise ConfigError(
            f"unable to configure the daemon with file {path}: the following directives "
            f"don't match any configuration option: {', '.join(unknown)}"
        )
    both = []
    for key in sorted(file_data):
        option = BY_KEY[key]
        flag = getattr(args, key)
        # --add-runtime adds to the file's runtimes, as with dockerd.
        if flag is not None and option.kind != "runtimes":
            both.append(
                f"{key}: (from flag: {_go_value(_flag_value(option, flag))}, "
                f"from file: {_go_value(file_data[key])})"
            )
    if both:
        raise ConfigError(
            f"unable to configure the daemon with file {path}: the following directives "
            f"are specified both as a flag and in the configuration file: {', '.join(both)}"
        )


def _set(config: DaemonConfig, option: Option, value: Any) -> None:
    kind = option.kind
    if kind == "path":
        value = Path(value)
    elif kind == "size":
        value = _parse_size(option.key, value)
    setattr(config, option.dest, value)


def _parse_size(key: str, text: str) -> int:
    try:
        return parse_ram_size(str(text))
    except LogOptionError as exc:
        raise ConfigError(f"invalid {key}: {exc}") from None


# -- checks of the whole ------------------------------------------------------------------


def _exec_opt(exec_opts: Sequence[str], name: str) -> str:
    for entry in exec_opts:
        key, _, value = entry.partition("=")
        if key.strip().lower() == name:
            return value.strip()
    return ""


def _validate(config: DaemonConfig) -> None:
    """What dockerd checks of the merged configuration, and what moorage cannot honour."""
    if config.log_level not in LOG_LEVELS:
        raise ConfigError(f"unable to parse logging level: {config.log_level}")
    if config.containerd_backend not in CONTAINERD_BACKENDS:
        raise ConfigError(
            f"invalid containerd-backend {config.containerd_backend!r}: "
            + ", ".join(CONTAINERD_BACKENDS)
        )
    if config.log_format not in LOG_FORMATS:
        raise ConfigError(f'unknown log format "{config.log_format}" (text or json)')
    for limit_key, limit in (
        ("max-concurrent-downloads", config.max_concurrent_downloads),
        ("max-concurrent-uploads", config.max_concurrent_uploads),
    ):
        if limit < 0:
            raise ConfigError(f"invalid max concurrent {limit_key.rsplit('-', 1)[1]}: {limit}")
        if limit == 0:
            raise ConfigError(f"{limit_key} must be at least 1")
    if config.max_download_attempts <= 0:
        raise ConfigError(f"invalid max download attempts: {config.max_download_attempts}")
    if config.shutdown_timeout < 0:
        raise ConfigError(f"invalid shutdown-timeout: {config.shutdown_timeout}")
    for label in config.labels:
        if "=" not in label:
            raise ConfigError(f"bad attribute format: {label}")
    for entry in config.exec_opts:
        key, sep, value = entry.partition("=")
        if not sep:
            raise ConfigError(f"invalid exec-opt ({entry}): must be formatted 'opt=value'")
        if key.strip().lower() != "native.cgroupdriver":
            raise ConfigError(f"exec-opt {key.strip()} is not supported by moorage")
        if value.strip() == "systemd":
            raise ConfigError(
                "native.cgroupdriver=systemd is not supported: moorage places containers "
                "in cgroups itself (cgroupfs)"
            )
        if value.strip() not in CGROUP_DRIVERS:
            raise ConfigError(f"native.cgroupdriver option {value.strip()} not supported")
    if config.log_driver not in LOG_DRIVERS:
        raise ConfigError(
            f"failed to set log opts: logger: no log driver named '{config.log_driver}' is "
            f"registered (moorage has {', '.join(LOG_DRIVERS)})"
        )
    try:
        validate_log_config(config.log_driver, config.log_opts)
    except LogOptionError as exc:
        raise ConfigError(f"failed to set log opts: {exc}") from None
    for name, ulimit in config.default_ulimits.items():
        if name not in ULIMIT_NAMES:
            raise ConfigError(f"invalid ulimit type: {name}")
        if ulimit["Soft"] > ulimit["Hard"]:
            raise ConfigError(
                f"ulimit soft limit must be less than or equal to hard limit: "
                f"{ulimit['Soft']} > {ulimit['Hard']}"
            )
    for mirror in config.registry_mirrors:
        scheme = urlsplit(mirror).scheme
        if scheme not in ("http", "https"):
            raise ConfigError(f'invalid mirror: unsupported scheme "{scheme}" in "{mirror}"')
        if not urlsplit(mirror).netloc:
            raise ConfigError(f'invalid mirror: no host in "{mirror}"')
    for server in config.dns:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise ConfigError(f"{server} is not an ip address") from None
    if config.bridge not in ("", "none", DEFAULT_BRIDGE_DEVICE):
        raise ConfigError(
            f"bridge {config.bridge}: moorage's default bridge network is its own device "
            f"({DEFAULT_BRIDGE_DEVICE}); use -b none for no bridge networking"
        )
    if config.networking:
        off = [
            key
            for key, on in (
                ("iptables", config.iptables),
                ("ip-forward", config.ip_forward),
                ("ip-masq", config.ip_masq),
            )
            if not on
        ]
        if off:
            raise ConfigError(
                f"{', '.join(off)}=false needs --bridge none: moorage's bridge network "
                "always forwards and filters with its own nftables table"
            )
    _check_addresses(config)
    _load_seccomp_profile(config)
    if config.tlsverify:
        config.tls = True


def _check_addresses(config: DaemonConfig) -> None:
    """bip, fixed-cidr and default-address-pools as dockerd checks them (IPv4 only)."""
    bip = None
    if config.bip:
        try:
            bip = ipaddress.IPv4Interface(config.bip)
        except ValueError:
            raise ConfigError(f"invalid bip {config.bip}: an IPv4 address/prefix") from None
        if "/" not in config.bip or bip.ip in (bip.network.network_address,
                                               bip.network.broadcast_address):  # fmt: skip
            raise ConfigError(f"invalid bip {config.bip}: a host address and its prefix")
    if config.fixed_cidr:
        try:
            fixed = ipaddress.IPv4Network(config.fixed_cidr, strict=False)
        except ValueError:
            raise ConfigError(f"invalid fixed-cidr {config.fixed_cidr}") from None
        if bip is not None and not fixed.subnet_of(bip.network):
            raise ConfigError(f"fixed-cidr {config.fixed_cidr} is not a part of bip {config.bip}")
    for pool in config.default_address_pools:
        try:
            base = ipaddress.IPv4Network(pool["base"])
        except ValueError:
            raise ConfigError(f"invalid default-address-pools base {pool['base']}") from None
        if not base.prefixlen <= pool["size"] <= 30:
            raise ConfigError(
                f"invalid default-address-pools size {pool['size']} for {base}: between "
                f"{base.prefixlen} and 30"
            )


def _load_seccomp_profile(config: DaemonConfig) -> None:
    profile = config.seccomp_profile
    if profile in ("", "builtin", "unconfined"):
        config.seccomp_profile_text = "unconfined" if profile == "unconfined" else ""
        return
    try:
        text = Path(profile).read_text()
        decode_profile(text)
    except OSError as exc:
        raise ConfigError(f"opening seccomp profile ({profile}) failed: {exc}") from None
    except SpecError as exc:
        raise ConfigError(f"seccomp profile ({profile}): {exc}") from None
    config.seccomp_profile_text = text


# -- loading ------------------------------------------------------------------------------


@dataclass
class LoadedConfig:
    """The configuration and what it came from (for a reload's conflict checks)."""

    config: DaemonConfig
    args: argparse.Namespace
    validate_only: bool


def load(argv: list[str] | None = None) -> LoadedConfig:
    args = parser().parse_args(argv)
    explicit_file = args.config_file != DEFAULT_CONFIG_FILE
    file_data = read_file(args.config_file, explicit_file)
    return LoadedConfig(_build(args, file_data), args, bool(args.validate))


def load_config(argv: list[str] | None = None) -> DaemonConfig:
    return load(argv).config


def _build(args: argparse.Namespace, file_data: Mapping[str, Any]) -> DaemonConfig:
    path = args.config_file
    _check_keys(path, file_data, args)
    config = DaemonConfig(config_file=path)
    for option in OPTIONS:
        flag = getattr(args, option.key)
        if option.kind == "runtimes":
            config.add_runtimes = list(flag or [])
            value = file_data.get(option.key)
            config.file_runtimes = _check_file_value(option, value) if value is not None else {}
            continue
        if flag is not None:
            _set(config, option, _flag_value(option, flag))
        elif option.key in file_data:
            _set(config, option, _check_file_value(option, file_data[option.key]))
    if config.debug:
        config.log_level = "debug"
    config.group_given = args.group is not None or "group" in file_data
    _validate(config)
    if config.tls:
        home = Path.home() / ".docker"  # dockerd's defaults
        config.tlscacert = config.tlscacert or str(home / "ca.pem")
        config.tlscert = config.tlscert or str(home / "cert.pem")
        config.tlskey = config.tlskey or str(home / "key.pem")
    config.runtimes()  # validate now, not at the first container
    return config


# -- reload (SIGHUP) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    key: str
    before: Any
    after: Any

    def describe(self) -> str:
        return f"{self.key}: {_go_value(self.before)} -> {_go_value(self.after)}"


def reload(loaded: LoadedConfig) -> tuple[list[Change], list[str]]:
    """Read the configuration file again and apply its reloadable keys to the running
    configuration (in place: whoever holds it sees the new values). Returns the changes
    and the keys that changed in the file but take effect only at the next start.
    ConfigError (and nothing changed) when the new file is not a valid configuration."""
    current = loaded.config
    file_data = read_file(current.config_file, explicit=True)
    fresh = _build(loaded.args, file_data)  # the whole is checked as a start would
    changes: list[Change] = []
    for key in RELOADABLE:
        option = BY_KEY[key]
        attrs = ["add_runtimes", "file_runtimes"] if option.kind == "runtimes" else [option.dest]
        for attr in attrs:
            before, after = getattr(current, attr), getattr(fresh, attr)
            if before != after:
                shown = "runtimes" if attr == "file_runtimes" else key
                changes.append(Change(shown, before, after))
    for change in changes:
        attr = "file_runtimes" if change.key == "runtimes" else BY_KEY[change.key].dest
        setattr(current, attr, change.after)
    not_applied = sorted(
        option.key
        for option in OPTIONS
        if not option.reloadable
        and option.kind != "runtimes"
        and getattr(current, option.dest) != getattr(fresh, option.dest)
        and option.key not in ("tlscacert", "tlscert", "tlskey")  # defaults filled in
    )
    return changes, not_applied
