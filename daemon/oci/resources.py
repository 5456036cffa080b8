"""`linux.resources` of the spec from HostConfig's resource fields.

Used for the spec at create and, without devices, for `docker update`
(Task.update takes the same structure).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import StartError
from .fields import get_int, get_list, get_opt_int, get_str

# NanoCpus are applied as a CFS quota over this period (100ms, as dockerd).
NANO_CPU_PERIOD = 100_000
_THROTTLES = (
    ("BlkioDeviceReadBps", "throttleReadBpsDevice"),
    ("BlkioDeviceWriteBps", "throttleWriteBpsDevice"),
    ("BlkioDeviceReadIOps", "throttleReadIOPSDevice"),
    ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice"),
)
StatFn = Callable[[str], os.stat_result]


def memory_resources(hc: Mapping[str, Any]) -> dict[str, Any]:
    memory: dict[str, Any] = {}
    if (limit := get_int(hc, "Memory")) > 0:
        memory["limit"] = limit
    if (reservation := get_int(hc, "MemoryReservation")) > 0:
        memory["reservation"] = reservation
    # -1 (unlimited) is expressed by leaving swap out.
    if (swap := get_int(hc, "MemorySwap")) > 0:
        memory["swap"] = swap
    swappiness = get_opt_int(hc, "MemorySwappiness")
    if swappiness is not None and 0 <= swappiness <= 100:
        memory["swappiness"] = swappiness
    if hc.get("OomKillDisable") is not None:
        memory["disableOOMKiller"] = bool(hc["OomKillDisable"])
    if kernel := get_int(hc, "KernelMemory"):
        memory["kernel"] = kernel
    if kernel_tcp := get_int(hc, "KernelMemoryTCP"):
        memory["kernelTCP"] = kernel_tcp
    return memory


def cpu_resources(hc: Mapping[str, Any]) -> dict[str, Any]:
    cpu: dict[str, Any] = {}
    if (shares := get_int(hc, "CpuShares")) > 0:
        cpu["shares"] = shares
    if cpus := get_str(hc, "CpusetCpus"):
        cpu["cpus"] = cpus
    if mems := get_str(hc, "CpusetMems"):
        cpu["mems"] = mems
    if (nano := get_int(hc, "NanoCpus")) > 0:
        cpu["period"] = NANO_CPU_PERIOD
        cpu["quota"] = nano * NANO_CPU_PERIOD // 1_000_000_000
    if period := get_int(hc, "CpuPeriod"):
        cpu["period"] = period
    if quota := get_int(hc, "CpuQuota"):
        cpu["quota"] = quota
    if rt_period := get_int(hc, "CpuRealtimePeriod"):
        cpu["realtimePeriod"] = rt_period
    if rt_runtime := get_int(hc, "CpuRealtimeRuntime"):
        cpu["realtimeRuntime"] = rt_runtime
    return cpu


def _device_numbers(path: str, stat_fn: StatFn) -> tuple[int, int]:
    try:
        rdev = stat_fn(path).st_rdev
    except OSError as exc:
        raise StartError(str(exc)) from exc
    return os.major(rdev), os.minor(rdev)


def block_io_resources(hc: Mapping[str, Any], stat_fn: StatFn = os.stat) -> dict[str, Any]:
    block_io: dict[str, Any] = {}
    if (weight := get_int(hc, "BlkioWeight")) > 0:
        block_io["weight"] = weight
    weights = []
    for entry in get_list(hc, "BlkioWeightDevice"):
        major, minor = _device_numbers(get_str(entry, "Path"), stat_fn)
        weights.append({"major": major, "minor": minor, "weight": get_int(entry, "Weight")})
    if weights:
        block_io["weightDevice"] = weights
    for field, key in _THROTTLES:
        throttles = []
        for entry in get_list(hc, field):
            major, minor = _device_numbers(get_str(entry, "Path"), stat_fn)
            throttles.append({"major": major, "minor": minor, "rate": get_int(entry, "Rate")})
        if throttles:
            block_io[key] = throttles
    return block_io


def pids_resources(hc: Mapping[str, Any]) -> dict[str, Any] | None:
    limit = get_opt_int(hc, "PidsLimit")
    if limit is None:
        return None
    # 0 and negatives mean unlimited; runc needs -1 to lift an earlier limit on update.
    return {"limit": limit if limit > 0 else -1}


def linux_resources(
    host_config: Mapping[str, Any],
    device_rules: Sequence[Mapping[str, Any]] | None = None,
    *,
    stat_fn: StatFn = os.stat,
) -> dict[str, Any]:
    """The spec's linux.resources; `device_rules` only for a full spec, not an update."""
    resources: dict[str, Any] = {}
    if device_rules is not None:
        resources["devices"] = [dict(r) for r in device_rules]
    if memory := memory_resources(host_config):
        resources["memory"] = memory
    if cpu := cpu_resources(host_config):
        resources["cpu"] = cpu
    if (pids := pids_resources(host_config)) is not None:
        resources["pids"] = pids
    if block_io := block_io_resources(host_config, stat_fn):
        resources["blockIO"] = block_io
    return resources
