"""Every create-time check of a container's Config and HostConfig, with dockerd's messages.

`validate_create` raises SpecError (400; NetworkNotFoundError is a 404) for the
first problem, in the order dockerd finds them, and returns dockerd's warnings
(for the create response's `Warnings`). It does not change its input: what
dockerd discards or defaults is applied by `hostconfig.normalize_host_config`.

The input is the parsed request (``wire``): its field types are already checked,
so what is left here are dockerd's value ranges and cross-field rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from wire.container import ContainerCreateRequest
from wire.container_config import ContainerConfig, HealthConfig
from wire.host_config import HostConfig, Resources, RestartPolicy

from ..signals import signal_number
from . import paths
from .capabilities import normalize_capabilities
from .devices import parse_cgroup_rule
from .errors import NetworkNotFoundError, SpecError
from .mounts import user_mounts
from .namespaces import CONTAINER_PREFIX, joined_container
from .security import parse_security_opts
from .sysinfo import SysInfo

MIN_MEMORY = 6 * 1024 * 1024
MIN_DURATION_NS = 1_000_000  # 1ms, Docker's shortest healthcheck interval
RESTART_POLICIES = frozenset({"no", "always", "unless-stopped", "on-failure"})
NETWORK_MODES = frozenset({"", "default", "bridge", "none", "host"})
IPC_MODES = frozenset({"", "none", "private", "shareable", "host"})
ULIMIT_NAMES = frozenset(
    {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
     "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}
)  # fmt: skip
_MAX_PORT = 65535


# --- Config ---------------------------------------------------------------------------


def _validate_healthcheck(healthcheck: HealthConfig) -> None:
    for key, value in (("Interval", healthcheck.Interval), ("Timeout", healthcheck.Timeout)):
        if value and value < MIN_DURATION_NS:
            raise SpecError(f"{key} in Healthcheck cannot be less than 1ms")
    if healthcheck.Retries < 0:
        raise SpecError("Retries in Healthcheck cannot be negative")
    start_period = healthcheck.StartPeriod
    if start_period and start_period < MIN_DURATION_NS:
        raise SpecError("StartPeriod in Healthcheck cannot be less than 1ms")


def validate_config(config: ContainerConfig) -> None:
    """The Config part of a create body (before the image is merged, as dockerd)."""
    workdir = config.WorkingDir
    if workdir and not workdir.startswith("/"):
        raise SpecError(
            f"the working directory '{workdir}' is invalid, it needs to be an absolute path"
        )
    if (stop := config.StopSignal) and signal_number(stop) is None:
        raise SpecError(f"Invalid signal: {stop}")
    for entry in config.Env or []:
        if not entry.split("=", 1)[0]:
            raise SpecError(f"invalid environment variable: {entry}")
    if config.Healthcheck is not None:
        _validate_healthcheck(config.Healthcheck)


# --- network and namespace modes ------------------------------------------------------


def _validate_network_mode(config: ContainerConfig, hc: HostConfig) -> None:
    mode = hc.NetworkMode
    if mode.split(":", 1)[0] == "container" and not joined_container(mode):
        raise SpecError("Invalid network mode: invalid container format container:<name|id>")
    in_container = mode.startswith(CONTAINER_PREFIX)
    if in_container:
        conflicts = (
            (config.Hostname, "conflicting options: hostname and the network mode"),
            (hc.Links, "conflicting options: container type network can't be "
             "used with links. This would result in undefined behavior"),
            (hc.Dns, "conflicting options: dns and the network mode"),
            (hc.ExtraHosts,
             "conflicting options: custom host-to-IP mapping and the network mode"),
        )  # fmt: skip
        for present, message in conflicts:
            if present:
                raise SpecError(message)
    if (in_container or mode == "host") and config.MacAddress:
        raise SpecError("conflicting options: mac-address and the network mode")
    if in_container and (hc.PortBindings or hc.PublishAllPorts):
        raise SpecError("conflicting options: port publishing and the container type network mode")
    if in_container and config.ExposedPorts:
        raise SpecError("conflicting options: port exposing and the container type network mode")
    if hc.UTSMode == "host" and config.Hostname:
        raise SpecError("conflicting options: hostname and the UTS mode")
    if mode == "host" and hc.Links:
        raise SpecError(
            "conflicting options: host type networking can't be used with links. "
            "This would result in undefined behavior"
        )


def _validate_modes(hc: HostConfig) -> None:
    ipc = hc.IpcMode
    if ipc not in IPC_MODES and not joined_container(ipc):
        raise SpecError(f"invalid IPC mode: {ipc}")
    pid = hc.PidMode
    if pid not in ("", "host") and not joined_container(pid):
        raise SpecError(f"invalid PID mode: {pid}")
    uts = hc.UTSMode
    if uts not in ("", "host"):
        raise SpecError(f"invalid UTS mode: {uts}")
    cgroupns = hc.CgroupnsMode
    if cgroupns not in ("", "host", "private"):
        raise SpecError(f"invalid cgroup namespace mode: {cgroupns}")


def validate_network_exists(
    hc: HostConfig, network_known: Callable[[str], bool] | None = None
) -> None:
    """A NetworkMode that is no built-in mode must name a network the daemon has."""
    mode = hc.NetworkMode
    if mode in NETWORK_MODES or mode.startswith(CONTAINER_PREFIX):
        return
    if network_known is None or not network_known(mode):
        raise NetworkNotFoundError(f"network {mode} not found")


# --- HostConfig (platform-independent part) -------------------------------------------


def _validate_extra_host(entry: str) -> None:
    name, separator, address = entry.partition(":")
    if not separator or not name:
        raise SpecError(f'bad format for add-host: "{entry}"')
    if address != "host-gateway":
        try:
            ipaddress.ip_address(address.strip())
        except ValueError:
            raise SpecError(f'invalid IP address in add-host: "{address}"') from None


def _valid_port(text: str, allow_range: bool) -> bool:
    if not text:
        return True
    bounds = text.split("-", 1) if allow_range else [text]
    if not all(b.isascii() and b.isdigit() and int(b) <= _MAX_PORT for b in bounds):
        return False
    return len(bounds) == 1 or int(bounds[0]) <= int(bounds[1])


def _port_part(spec: str) -> str:
    # "80/tcp" -> "80"; "80" -> "80"
    return spec.split("/", 1)[0] if spec else ""


def _validate_port_bindings(hc: HostConfig) -> None:
    for port, bindings in (hc.PortBindings or {}).items():
        container_port = _port_part(port)
        if not _valid_port(container_port, allow_range=False):
            raise SpecError(f'invalid port specification: "{container_port}"')
        for binding in bindings or []:
            host_port = binding.HostPort
            if not _valid_port(_port_part(host_port), allow_range=True):
                raise SpecError(f'invalid port specification: "{host_port}"')


def validate_restart_policy(policy: RestartPolicy) -> None:
    name = policy.Name
    retries = policy.MaximumRetryCount
    if name in ("always", "unless-stopped", "no"):
        if retries != 0:
            raise SpecError(f"maximum retry count cannot be used with restart policy '{name}'")
    elif name == "on-failure":
        if retries < 0:
            raise SpecError("maximum retry count cannot be negative")
    elif name:
        raise SpecError(f"invalid restart policy '{name}'")


def _validate_host_config(hc: HostConfig) -> None:
    if hc.AutoRemove and hc.RestartPolicy.Name not in ("", "no"):
        raise SpecError("can't create 'AutoRemove' container with restart policy")
    for entry in hc.ExtraHosts or []:
        _validate_extra_host(entry)
    _validate_port_bindings(hc)
    validate_restart_policy(hc.RestartPolicy)
    normalize_capabilities(hc.CapAdd or [], "CapAdd")
    normalize_capabilities(hc.CapDrop or [], "CapDrop")


def _validate_decode_time(hc: HostConfig, sysinfo: SysInfo) -> None:
    """What dockerd rejects while decoding the request, before anything else."""
    isolation = hc.Isolation
    if isolation not in ("", "default"):
        raise SpecError(f"Invalid isolation: \"{isolation}\" - linux only supports 'default'")
    if hc.IOMaximumBandwidth:
        raise SpecError(
            "Invalid QoS settings: linux does not support configuration of maximum bandwidth"
        )
    if hc.IOMaximumIOps:
        raise SpecError(
            "Invalid QoS settings: linux does not support configuration of maximum IOPs"
        )
    rt_period, rt_runtime = hc.CpuRealtimePeriod, hc.CpuRealtimeRuntime
    if (rt_period > 0 or rt_runtime > 0) and not sysinfo.cpu_realtime:
        raise SpecError("Your kernel does not support CPU real-time scheduler")
    if rt_runtime != 0 and rt_runtime > rt_period:
        raise SpecError("cpu-rt-runtime cannot be higher than cpu-rt-period")


# --- resources ------------------------------------------------------------------------


def parse_uint_list(value: str) -> set[int]:
    """A cpuset list ("0-2,5"); ValueError `invalid format: X` as dockerd's parser says."""
    found: set[int] = set()
    if not value:
        return found
    invalid = ValueError(f"invalid format: {value}")
    for part in value.split(","):
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise invalid from None
        if last < first:
            raise invalid
        found.update(range(first, last + 1))
    return found


def _check_cpuset(requested: str, available: str, what: str, unavailable: str) -> None:
    try:
        wanted = parse_uint_list(requested)
    except ValueError as exc:
        raise SpecError(f"Invalid value {requested} for cpuset {what}: {exc}") from None
    try:
        have = parse_uint_list(available)
    except ValueError:
        return  # an unreadable host list is no reason to refuse the container
    if not wanted <= have:
        raise SpecError(f"{unavailable} - requested {requested}, available: {available}")


def _memory_checks(r: Resources, sysinfo: SysInfo, update: bool) -> list[str]:
    warnings: list[str] = []
    memory, swap = r.Memory, r.MemorySwap
    if memory != 0 and memory < MIN_MEMORY:
        raise SpecError("Minimum memory limit allowed is 6MB")
    if memory > 0 and not sysinfo.memory_limit:
        warnings.append(
            "Your kernel does not support memory limit capabilities or the cgroup is not "
            "mounted. Limitation discarded."
        )
        memory, swap = 0, -1
    if memory > 0 and swap != -1 and not sysinfo.swap_limit:
        warnings.append(
            "Your kernel does not support swap limit capabilities or the cgroup is not "
            "mounted. Memory limited without swap."
        )
        swap = -1
    if memory > 0 and swap > 0 and swap < memory:
        raise SpecError("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0 and not update:
        raise SpecError(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    swappiness = r.MemorySwappiness
    if swappiness == -1:
        swappiness = None  # -1 is how clients say "unset"
    if swappiness is not None and not sysinfo.memory_swappiness:
        warnings.append(
            "Your kernel does not support memory swappiness capabilities or the cgroup is "
            "not mounted. Memory swappiness discarded."
        )
        swappiness = None
    if swappiness is not None and not 0 <= swappiness <= 100:
        raise SpecError(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    reservation = r.MemoryReservation
    if reservation > 0 and not sysinfo.memory_reservation:
        warnings.append(
            "Your kernel does not support memory soft limit capabilities or the cgroup is "
            "not mounted. Limitation discarded."
        )
        reservation = 0
    if reservation > 0 and reservation < MIN_MEMORY:
        raise SpecError("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise SpecError(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    kernel = r.KernelMemory
    if kernel > 0:
        warnings.append(
            "Specifying a kernel memory limit is deprecated and will be removed in a future "
            "release."
        )
        if not sysinfo.kernel_memory:
            warnings.append(
                "Your kernel does not support kernel memory limit capabilities or the cgroup "
                "is not mounted. Limitation discarded."
            )
            kernel = 0
    if kernel > 0 and kernel < MIN_MEMORY:
        raise SpecError("Minimum kernel memory limit allowed is 4MB")
    oom_kill_disable = r.OomKillDisable
    if oom_kill_disable is not None and not sysinfo.oom_kill_disable:
        if oom_kill_disable:
            warnings.append(
                "Your kernel does not support OomKillDisable. OomKillDisable discarded."
            )
        oom_kill_disable = None
    if oom_kill_disable and memory == 0:
        warnings.append(
            "OOM killer is disabled for the container, but no memory limit is set, this can "
            "result in the system running out of resources."
        )
    pids = r.PidsLimit
    if pids is not None and pids > 0 and not sysinfo.pids_limit:
        warnings.append(
            "Your kernel does not support pids limit capabilities or the cgroup is not "
            "mounted. PIDs limit discarded."
        )
    return warnings


def _cpu_checks(r: Resources, sysinfo: SysInfo) -> list[str]:
    warnings: list[str] = []
    nano = r.NanoCpus
    period, quota = r.CpuPeriod, r.CpuQuota
    if nano > 0 and period > 0:
        raise SpecError("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise SpecError("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano > 0 and not sysinfo.cpu_cfs:
        raise SpecError(
            "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or "
            "the cgroup is not mounted"
        )
    if nano < 0 or nano > sysinfo.ncpu * 1_000_000_000:
        raise SpecError(
            f"Range of CPUs is from 0.01 to {sysinfo.ncpu}.00, as there are only "
            f"{sysinfo.ncpu} CPUs available"
        )
    if r.CpuShares < 0:
        raise SpecError("shares: invalid argument")
    if r.CpuShares > 0 and not sysinfo.cpu_shares:
        warnings.append(
            "Your kernel does not support CPU shares or the cgroup is not mounted. "
            "Shares discarded."
        )
    if (period or quota) and not sysinfo.cpu_cfs:
        if period:
            warnings.append(
                "Your kernel does not support CPU CFS period or the cgroup is not mounted. "
                "Period discarded."
            )
        if quota:
            warnings.append(
                "Your kernel does not support CPU CFS quota or the cgroup is not mounted. "
                "Quota discarded."
            )
        period = quota = 0
    if period and not 1000 <= period <= 1_000_000:
        raise SpecError(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if 0 < quota < 1000:
        raise SpecError("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if r.CpuPercent > 0:
        warnings.append("linux does not support CPU percent. Percent discarded.")
    cpus, mems = r.CpusetCpus, r.CpusetMems
    if (cpus or mems) and not sysinfo.cpuset:
        warnings.append(
            "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded."
        )
        return warnings
    _check_cpuset(cpus, sysinfo.cpus, "cpus", "Requested CPUs are not available")
    _check_cpuset(mems, sysinfo.mems, "mems", "Requested memory nodes are not available")
    return warnings


_BLKIO_DISCARDS = (
    ("BlkioWeightDevice", "blkio_weight_device", "Block I/O weight_device", "Weight-device"),
    ("BlkioDeviceReadBps", "blkio_throttle", "BPS Block I/O read limit",
     "Block I/O BPS read limit"),
    ("BlkioDeviceWriteBps", "blkio_throttle", "BPS Block I/O write limit",
     "Block I/O BPS write limit"),
    ("BlkioDeviceReadIOps", "blkio_throttle", "IOPS Block read limit",
     "Block I/O IOPS read limit"),
    ("BlkioDeviceWriteIOps", "blkio_throttle", "IOPS Block write limit",
     "Block I/O IOPS write limit"),
)  # fmt: skip


def _blkio_checks(r: Resources, sysinfo: SysInfo) -> list[str]:
    warnings: list[str] = []
    weight = r.BlkioWeight
    if weight > 0 and not sysinfo.blkio_weight:
        warnings.append(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. "
            "Weight discarded."
        )
        weight = 0
    if weight > 0 and not 10 <= weight <= 1000:
        raise SpecError("Range of blkio weight is from 10 to 1000")
    if r.IOMaximumBandwidth or r.IOMaximumIOps:
        raise SpecError(
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps"
        )
    for field, supported, what, discarded in _BLKIO_DISCARDS:
        if getattr(r, field) and not getattr(sysinfo, supported):
            warnings.append(
                f"Your kernel does not support {what} or the cgroup is not mounted. "
                f"{discarded} discarded."
            )
    return warnings


def validate_resources(
    resources: Resources, sysinfo: SysInfo, *, update: bool = False
) -> list[str]:
    """HostConfig's resource fields (also the body of `docker update`, with update=True)."""
    warnings = _memory_checks(resources, sysinfo, update)
    warnings += _cpu_checks(resources, sysinfo)
    warnings += _blkio_checks(resources, sysinfo)
    return warnings


# --- the rest of HostConfig -----------------------------------------------------------


def _validate_ulimits(hc: HostConfig) -> None:
    for ulimit in hc.Ulimits or []:
        name = ulimit.Name
        if name not in ULIMIT_NAMES:
            raise SpecError(f"invalid ulimit type: {name}")
        soft, hard = ulimit.Soft, ulimit.Hard
        if soft > hard >= 0:
            raise SpecError(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )


def _validate_platform(hc: HostConfig, sysinfo: SysInfo) -> list[str]:
    warnings = validate_resources(hc, sysinfo)
    if hc.ShmSize < 0:
        raise SpecError("SHM size can not be less than 0")
    oom_score_adj = hc.OomScoreAdj
    if not -1000 <= oom_score_adj <= 1000:
        raise SpecError(f"Invalid value {oom_score_adj}, range for oom score adj is [-1000, 1000]")
    if hc.NetworkMode == "host" and hc.PortBindings:
        warnings.append("Published ports are discarded when using host network mode")
    for destination in hc.Tmpfs or {}:
        paths.check_not_root(destination)
        paths.check_absolute(destination)
    _validate_modes(hc)
    return warnings


def validate_host_config(
    config: ContainerConfig,
    hc: HostConfig,
    host_config_json: Mapping[str, Any],
    sysinfo: SysInfo,
    network_known: Callable[[str], bool] | None = None,
) -> list[str]:
    """HostConfig checks in dockerd's order; `config` is the request's Config part, and
    `host_config_json` the HostConfig as JSON (the mount parser reads that form)."""
    _validate_network_mode(config, hc)
    _validate_decode_time(hc, sysinfo)
    validate_config(config)
    _validate_host_config(hc)
    warnings = _validate_platform(hc, sysinfo)
    parse_security_opts(hc.SecurityOpt or [])
    # Binds, Mounts, Tmpfs: syntax, bind sources, duplicate mount points.
    user_mounts(host_config_json)
    _validate_ulimits(hc)
    for rule in hc.DeviceCgroupRules or []:
        parse_cgroup_rule(rule)
    validate_network_exists(hc, network_known)
    if network_known is None and hc.Links and not hc.NetworkMode.startswith(CONTAINER_PREFIX):
        warnings.append("bridge networking is off (--bridge=none): Links are ignored")
    if hc.Init:
        warnings.append("moorage has no init process to inject yet: Init is ignored")
    # network_known is given only when the daemon has bridge networking, which publishes.
    if network_known is None and hc.PortBindings and hc.NetworkMode != "host":
        warnings.append("bridge networking is off (--bridge=none): published ports are ignored")
    return warnings


def validate_create(
    request: ContainerCreateRequest,
    sysinfo: SysInfo,
    network_known: Callable[[str], bool] | None = None,
    *,
    host_config_json: Mapping[str, Any] | None = None,
) -> list[str]:
    """A whole create body (Config fields at top level, plus HostConfig). Returns warnings.
    `network_known` tells whether a NetworkMode names a user-defined network;
    `host_config_json` is the request's HostConfig as JSON, when the caller has it."""
    hc = request.HostConfig or HostConfig()
    if host_config_json is None:
        host_config_json = hc.to_dict()
    return validate_host_config(request, hc, host_config_json, sysinfo, network_known)
