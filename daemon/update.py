"""``docker update``: new resource limits and restart policy for an existing container.

As dockerd 20.10 does it: the request (HostConfig's resource fields plus
RestartPolicy) is validated like a create's resources; each field given
non-zero replaces the stored one, the rest stay; the HostConfig is persisted;
and a running container gets the request's limits in one Tasks.Update RPC (a
stopped one gets them from its spec at the next start). If the RPC fails the
old HostConfig is put back.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from libcontainerd import errors as lcd_errors
from wire.container import ContainerUpdateRequest

from . import errors, oci
from .container.live import LiveContainer
from .container.model import Status
from .daemon import Daemon
from .oci.fields import get_int, get_map, get_str
from .oci.hostconfig import discard_unsupported
from .oci.validate import validate_restart_policy

# The fields dockerd copies from the request when they are not zero.
_UPDATABLE = (
    "BlkioWeight",
    "CpuShares",
    "NanoCpus",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "KernelMemory",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
)
# Per-device block IO lists (applied from API 1.55; the API layer drops them before): a
# list replaces the stored one, an empty list clears it, null leaves it.
_DEVICE_LISTS = (
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
)


async def update_container(daemon: Daemon, ref: str, request: ContainerUpdateRequest) -> list[str]:
    """Apply `request` (the parsed update body) to `ref`; the warnings."""
    sysinfo = daemon.specs.sysinfo
    try:
        warnings = oci.validate_resources(request, sysinfo, update=True)
        validate_restart_policy(request.RestartPolicy)
    except oci.SpecError as exc:
        raise errors.InvalidParameter(str(exc)) from None
    # Merged into the stored HostConfig (JSON) from here on.
    resources = request.to_dict()
    # What the host cannot enforce was warned about above and is dropped, as at create.
    discard_unsupported(resources, sysinfo)
    live = daemon.get(ref)
    async with live.lock:
        await _update_locked(daemon, live, resources)
    daemon.container_event(live, "update")
    return warnings


async def _update_locked(daemon: Daemon, live: LiveContainer, request: dict[str, Any]) -> None:
    model = live.model
    state = model.state
    if state.status in (Status.REMOVING, Status.DEAD):
        raise errors.SystemError(
            f"Cannot update container {model.id}: "
            'container is marked for removal and cannot be "update"'
        )
    backup = copy.deepcopy(model.host_config)
    try:
        model.host_config = merged_host_config(model.host_config, request)
    except errors.Conflict as exc:
        raise errors.Conflict(f"Cannot update container {model.id}: {exc}") from None
    daemon.store.save(model)
    task = live.task
    if not state.running or state.status is Status.RESTARTING or task is None:
        return
    try:
        await task.update(update_resources(request))
    except lcd_errors.LibcontainerdError as exc:
        model.host_config = backup
        daemon.store.save(model)
        raise errors.SystemError(f"Cannot update container {model.id}: {exc}") from None


def merged_host_config(current: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """The stored HostConfig with the request's non-zero fields over it; Conflict when the
    request clashes with what is stored (dockerd's wording)."""
    hc = copy.deepcopy(dict(current))
    nano, period, quota = (get_int(request, k) for k in ("NanoCpus", "CpuPeriod", "CpuQuota"))
    # NanoCpus is applied as a period and quota, so it cannot mix with either.
    if nano > 0 and get_int(hc, "CpuPeriod") > 0:
        raise _conflict("Nano CPUs cannot be updated as CPU Period has already been set")
    if nano > 0 and get_int(hc, "CpuQuota") > 0:
        raise _conflict("Nano CPUs cannot be updated as CPU Quota has already been set")
    if period > 0 and get_int(hc, "NanoCpus") > 0:
        raise _conflict("CPU Period cannot be updated as NanoCpus has already been set")
    if quota > 0 and get_int(hc, "NanoCpus") > 0:
        raise _conflict("CPU Quota cannot be updated as NanoCpus has already been set")
    memory = get_int(request, "Memory")
    if memory != 0 and memory > get_int(hc, "MemorySwap") and get_int(request, "MemorySwap") == 0:
        raise errors.Conflict(
            "Memory limit should be smaller than already set memoryswap limit, "
            "update the memoryswap at the same time"
        )
    for key in _UPDATABLE:
        value = request.get(key)
        if value:
            hc[key] = value
    pids = request.get("PidsLimit")
    if pids is not None:
        hc["PidsLimit"] = pids
    for key in _DEVICE_LISTS:
        if request.get(key) is not None:
            hc[key] = request[key] or None
    policy = get_map(request, "RestartPolicy")
    name = get_str(policy, "Name")
    if name:
        if hc.get("AutoRemove") and name != "no":
            raise errors.Conflict(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
            )
        hc["RestartPolicy"] = {
            "Name": name,
            "MaximumRetryCount": get_int(policy, "MaximumRetryCount"),
        }
    return hc


def update_resources(request: Mapping[str, Any]) -> dict[str, Any]:
    """The Tasks.Update resources: only what the request sets (runc keeps the rest)."""
    subset = {key: request[key] for key in _UPDATABLE if key in request}
    if "PidsLimit" in request:
        subset["PidsLimit"] = request["PidsLimit"]
    # A cleared list reaches a running container only at its next start (runc keeps rules).
    subset.update((key, request[key]) for key in _DEVICE_LISTS if request.get(key))
    try:
        return oci.linux_resources(subset)
    except oci.StartError as exc:  # a device path that is not there
        raise errors.InvalidParameter(str(exc)) from None


def _conflict(message: str) -> errors.Conflict:
    return errors.Conflict(f"Conflicting options: {message}")
