"""The JSON shapes dockerd gives containers in inspect and in `docker ps`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, cast

from daemon import oci
from daemon.container.live import LiveContainer
from daemon.container.model import Status
from daemon.container.spec import inherited_of
from daemon.container.status_text import status_text
from daemon.timefmt import parse_rfc3339
from daemon.volumes.mounts import mount_point, mounts_of
from wire.container import (
    ContainerInspect,
    ContainerSummary,
    MountPoint,
    NetworkSettings,
    OCIDescriptor,
    SummaryHostConfig,
)

_EMPTY_NETWORK: NetworkSettings = {
    "Bridge": "",
    "SandboxID": "",
    "HairpinMode": False,
    "LinkLocalIPv6Address": "",
    "LinkLocalIPv6PrefixLen": 0,
    "Ports": {},
    "SandboxKey": "",
    "SecondaryIPAddresses": None,
    "SecondaryIPv6Addresses": None,
    "EndpointID": "",
    "Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
    "IPAddress": "",
    "IPPrefixLen": 0,
    "IPv6Gateway": "",
    "MacAddress": "",
    "Networks": {},
}


def _mounts(live: LiveContainer) -> list[MountPoint]:
    host_config = live.model.host_config
    mounts = _inherited_mounts(live)
    for bind in host_config.get("Binds") or []:
        parts = bind.split(":")
        if len(parts) >= 2 and parts[0].startswith("/"):  # volumes are added below
            mode = parts[2] if len(parts) > 2 else ""
            mounts.append(
                {
                    "Type": "bind",
                    "Source": parts[0],
                    "Destination": parts[1],
                    "Mode": mode,
                    "RW": "ro" not in mode.split(","),
                    "Propagation": "rprivate",
                }
            )
    for mount in host_config.get("Mounts") or []:
        kind = mount.get("Type", "")
        if kind == "volume":
            continue
        mounts.append(
            {
                "Type": kind,
                "Source": mount.get("Source", ""),
                "Destination": mount.get("Target", ""),
                "Mode": "",
                "RW": not mount.get("ReadOnly", False),
                "Propagation": "rprivate" if kind == "bind" else "",
            }
        )
    mounts += [mount_point(m) for m in mounts_of(live.model.volume_mounts)]
    return mounts


def _inherited_mounts(live: LiveContainer) -> list[MountPoint]:
    """The copies VolumesFrom made, as dockerd shows them: no Mode of their own.
    A Bind or Mount of the container's own at the same destination replaces one."""
    if not live.model.inherited_mounts:
        return []  # the usual case, and the mount points below cost a list its time
    own = {m.destination for m in oci.mount_points(live.model.host_config)}
    return [
        {
            "Type": mount.type,
            "Source": mount.source,
            "Destination": mount.destination,
            "Mode": "",
            "RW": mount.writable,
            "Propagation": mount.propagation if mount.type == "bind" else "",
        }
        for mount in inherited_of(live.model)
        # Inherited volumes are the container's own volumes now: shown with them.
        if mount.destination not in own and mount.type != "volume"
    ]


def inspect_container(
    live: LiveContainer, manifest: OCIDescriptor | None = None
) -> ContainerInspect:
    """`manifest`: the image's ImageManifestDescriptor, when the image is still there."""
    model = live.model
    state = model.state
    inspect: ContainerInspect = {
        "Id": model.id,
        "Created": model.created,
        "Path": model.path,
        "Args": model.args,
        "State": {
            "Status": str(state.status),
            "Running": state.running,  # dockerd counts a restarting container as running
            "Paused": state.status is Status.PAUSED,
            "Restarting": state.status is Status.RESTARTING,
            "OOMKilled": state.oom_killed,
            "Dead": state.status is Status.DEAD,
            "Pid": state.pid,
            "ExitCode": state.exit_code,
            "Error": state.error,
            "StartedAt": state.started_at,
            "FinishedAt": state.finished_at,
        },
        "Image": model.image_id,
        "ResolvConfPath": str(model.resolv_conf_path),
        "HostnamePath": str(model.hostname_path),
        "HostsPath": str(model.hosts_path),
        "LogPath": str(model.log_path),
        "Name": model.name,
        "RestartCount": model.restart_count,
        "Driver": "overlayfs",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        # As dockerd: the execs not yet over, a running healthcheck probe's too (one that
        # exited or failed to start leaves it).
        "ExecIDs": [i for i, record in live.execs.items() if record.exit_code is None] or None,
        "HostConfig": model.host_config,
        "GraphDriver": {"Data": None, "Name": "overlayfs"},
        "Mounts": _mounts(live),
        "Config": model.config,
        "NetworkSettings": _EMPTY_NETWORK.copy(),
    }
    if state.health is not None:
        # The state machine keeps State.Health in its wire shape.
        inspect["State"]["Health"] = copy.deepcopy(state.health)
    if manifest is not None:
        return cast(ContainerInspect, _inserted_after(inspect, "Platform", manifest))
    return inspect


def _inserted_after(doc: Mapping[str, Any], key: str, manifest: OCIDescriptor) -> dict[str, Any]:
    """`doc` with ImageManifestDescriptor right after `key`, where dockerd writes it."""
    out: dict[str, Any] = {}
    for name, value in doc.items():
        out[name] = value
        if name == key:
            out["ImageManifestDescriptor"] = manifest
    return out


def _created_unix(created: str) -> int:
    stamp = parse_rfc3339(created)
    return stamp.unix if stamp is not None else 0


def summarize_container(
    live: LiveContainer,
    size_rw: int = 0,
    size_root_fs: int = 0,
    manifest: OCIDescriptor | None = None,
) -> ContainerSummary:
    """The sizes are given only where they were asked for; `manifest` as for inspect."""
    model = live.model
    command = " ".join([model.path, *model.args]).strip()
    summary: ContainerSummary = {
        "Id": model.id,
        "Names": [model.name],
        "Image": model.image_name,
        "ImageID": model.image_id,
        "Command": command,
        "Created": _created_unix(model.created),
        "Ports": [],
        "Labels": model.labels,
        "State": str(model.state.status),
        "Status": status_text(live.model.state),
        "HostConfig": _summary_host_config(model.host_config),
        "NetworkSettings": {"Networks": {}},
        "Mounts": _mounts(live),
    }
    if manifest is not None:
        summary = cast(ContainerSummary, _inserted_after(summary, "ImageID", manifest))
    if size_rw or size_root_fs:
        return _with_sizes(summary, size_rw, size_root_fs)
    return summary


def _summary_host_config(host_config: Mapping[str, Any]) -> SummaryHostConfig:
    shown: SummaryHostConfig = {"NetworkMode": host_config.get("NetworkMode") or "default"}
    if annotations := host_config.get("Annotations"):
        shown["Annotations"] = dict(annotations)
    return shown


def _with_sizes(summary: ContainerSummary, size_rw: int, size_root_fs: int) -> ContainerSummary:
    # dockerd writes them right after Ports, and leaves a zero one out (omitempty).
    sizes = {"SizeRw": size_rw, "SizeRootFs": size_root_fs}
    ordered: dict[str, object] = {}
    for key, value in summary.items():
        ordered[key] = value
        if key == "Ports":
            ordered.update((k, v) for k, v in sizes.items() if v)
    return cast(ContainerSummary, ordered)
