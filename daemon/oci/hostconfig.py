"""HostConfig as dockerd stores it after create: unsupported limits dropped, defaults filled.

What `docker inspect` then shows as `.HostConfig`, and what `build_spec` reads.
Call after `validate_create` succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wire.base import copy_json

from .defaults import DEFAULT_SHM_SIZE, MASKED_PATHS, READONLY_PATHS
from .fields import get_bool, get_int, get_opt_int, get_str
from .sysinfo import SysInfo

_BLKIO_FIELDS = (
    ("BlkioWeightDevice", "blkio_weight_device"),
    ("BlkioDeviceReadBps", "blkio_throttle"),
    ("BlkioDeviceWriteBps", "blkio_throttle"),
    ("BlkioDeviceReadIOps", "blkio_throttle"),
    ("BlkioDeviceWriteIOps", "blkio_throttle"),
)


def discard_unsupported(hc: dict[str, Any], sysinfo: SysInfo) -> None:
    """Drop, in place, what the host's cgroups cannot enforce (validation warned about it)."""
    if get_opt_int(hc, "MemorySwappiness") == -1:
        hc["MemorySwappiness"] = None
    if get_int(hc, "Memory") > 0 and not sysinfo.memory_limit:
        hc["Memory"], hc["MemorySwap"] = 0, -1
    if get_int(hc, "Memory") > 0 and get_int(hc, "MemorySwap") != -1 and not sysinfo.swap_limit:
        hc["MemorySwap"] = -1
    if hc.get("MemorySwappiness") is not None and not sysinfo.memory_swappiness:
        hc["MemorySwappiness"] = None
    if get_int(hc, "MemoryReservation") > 0 and not sysinfo.memory_reservation:
        hc["MemoryReservation"] = 0
    if get_int(hc, "KernelMemory") > 0 and not sysinfo.kernel_memory:
        hc["KernelMemory"] = 0
    if hc.get("OomKillDisable") is not None and not sysinfo.oom_kill_disable:
        hc["OomKillDisable"] = None
    if hc.get("PidsLimit") is not None and not sysinfo.pids_limit:
        hc["PidsLimit"] = None
    if get_int(hc, "CpuShares") > 0 and not sysinfo.cpu_shares:
        hc["CpuShares"] = 0
    for field in ("CpuPeriod", "CpuQuota"):
        if get_int(hc, field) and not sysinfo.cpu_cfs:
            hc[field] = 0
    if get_int(hc, "CpuPercent") > 0:
        hc["CpuPercent"] = 0
    for field in ("CpusetCpus", "CpusetMems"):
        if get_str(hc, field) and not sysinfo.cpuset:
            hc[field] = ""
    if get_int(hc, "BlkioWeight") > 0 and not sysinfo.blkio_weight:
        hc["BlkioWeight"] = 0
    for field, supported in _BLKIO_FIELDS:
        if hc.get(field) and not getattr(sysinfo, supported):
            hc[field] = []


def normalize_host_config(
    host_config: Mapping[str, Any],
    sysinfo: SysInfo,
    *,
    shm_size: int = DEFAULT_SHM_SIZE,
    ipc_mode: str = "private",
) -> dict[str, Any]:
    """A copy with dockerd's create-time adjustments; `shm_size` and `ipc_mode` are the
    daemon's defaults (dockerd's --default-shm-size and --default-ipc-mode)."""
    hc: dict[str, Any] = copy_json(dict(host_config))
    discard_unsupported(hc, sysinfo)
    if not get_str(hc, "NetworkMode"):
        hc["NetworkMode"] = "default"
    memory = get_int(hc, "Memory")
    if memory > 0 and get_int(hc, "MemorySwap") == 0:
        hc["MemorySwap"] = memory * 2  # Docker's default: as much swap as memory
    if get_int(hc, "ShmSize") == 0:
        hc["ShmSize"] = shm_size
    if not get_str(hc, "IpcMode"):
        hc["IpcMode"] = ipc_mode
    if not get_str(hc, "CgroupnsMode"):
        # cgroup v2 gets a private cgroup namespace, v1 the host's (privileged or not).
        hc["CgroupnsMode"] = "private" if sysinfo.cgroup_version == 2 else "host"
    if hc.get("OomKillDisable") is None:
        hc["OomKillDisable"] = False
    pids = get_opt_int(hc, "PidsLimit")
    if pids is not None and pids <= 0:
        hc["PidsLimit"] = None  # 0 and -1 both mean unlimited
    privileged = get_bool(hc, "Privileged")
    if hc.get("MaskedPaths") is None and not privileged:
        hc["MaskedPaths"] = list(MASKED_PATHS)
    if hc.get("ReadonlyPaths") is None and not privileged:
        hc["ReadonlyPaths"] = list(READONLY_PATHS)
    return hc
