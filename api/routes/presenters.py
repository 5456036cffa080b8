"""The JSON shapes dockerd gives containers in inspect and in `docker ps`."""

from __future__ import annotations

import copy
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from daemon import oci
from daemon.container.live import LiveContainer
from daemon.container.model import Status
from daemon.container.spec import inherited_of
from daemon.container.status_text import status_text
from daemon.timefmt import parse_rfc3339
from daemon.volumes.mounts import mount_point, mounts_of
from libcontainerd import jsonbytes
from wire.api_versions import ApiVersion
from wire.container import (
    ContainerInspect,
    ContainerSummary,
    MountPoint,
    NetworkSettings,
    OCIDescriptor,
    SummaryHostConfig,
    summary_at,
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
                    "Propagation": oci.bind_propagation(mode),
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
                "Propagation": oci.mount_propagation(mount) if kind == "bind" else "",
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


@dataclass(slots=True, eq=False)
class _Fixed:
    """The parts of a container's `docker ps` entry that only its create sets: built at
    its first list and reused while the model holds the very objects they were built
    from (an update replaces HostConfig, and the parts are built again). Rebuilding them
    for each of 200 containers was most of a list's CPU (issue 13)."""

    config: dict[str, Any]
    host_config: dict[str, Any]
    inherited_mounts: list[dict[str, Any]]
    volume_mounts: list[dict[str, Any]]
    args: list[str]
    path: str
    created_text: str
    image: str
    command: str
    created: int
    labels: dict[str, str]
    host_config_shown: SummaryHostConfig
    mounts: list[MountPoint]
    # The entry as JSON around its Status (summary_json), and what it was encoded for.
    json_head: bytes = b""
    json_tail: bytes = b""
    json_for: tuple[object, ...] = ()

    def holds(self, live: LiveContainer) -> bool:
        model = live.model
        return (
            self.config is model.config
            and self.host_config is model.host_config
            and self.inherited_mounts is model.inherited_mounts
            and self.volume_mounts is model.volume_mounts
            and self.args is model.args
            and self.path == model.path
            and self.created_text == model.created
        )


# Per container, dropped with it; the entries are only read (serialized), never changed.
_FIXED: weakref.WeakKeyDictionary[LiveContainer, _Fixed] = weakref.WeakKeyDictionary()


def _fixed(live: LiveContainer) -> _Fixed:
    fixed = _FIXED.get(live)
    if fixed is not None and fixed.holds(live):
        return fixed
    model = live.model
    fixed = _Fixed(
        config=model.config,
        host_config=model.host_config,
        inherited_mounts=model.inherited_mounts,
        volume_mounts=model.volume_mounts,
        args=model.args,
        path=model.path,
        created_text=model.created,
        image=model.image_name,
        command=" ".join([model.path, *model.args]).strip(),
        created=_created_unix(model.created),
        labels=model.labels,
        host_config_shown=_summary_host_config(model.host_config),
        mounts=_mounts(live),
    )
    _FIXED[live] = fixed
    return fixed


def summarize_container(
    live: LiveContainer,
    size_rw: int = 0,
    size_root_fs: int = 0,
    manifest: OCIDescriptor | None = None,
) -> ContainerSummary:
    """The sizes are given only where they were asked for; `manifest` as for inspect.
    The nested values of the parts fixed at create are shared between calls: read them."""
    model = live.model
    fixed = _fixed(live)
    summary: dict[str, Any] = {
        "Id": model.id,
        "Names": [model.name],
        "Image": fixed.image,
        "ImageID": model.image_id,
    }
    if manifest is not None:
        summary["ImageManifestDescriptor"] = manifest
    summary["Command"] = fixed.command
    summary["Created"] = fixed.created
    summary["Ports"] = []
    if size_rw or size_root_fs:
        # dockerd writes them right after Ports, and leaves a zero one out (omitempty).
        if size_rw:
            summary["SizeRw"] = size_rw
        if size_root_fs:
            summary["SizeRootFs"] = size_root_fs
    summary["Labels"] = fixed.labels
    summary["State"] = str(model.state.status)
    summary["Status"] = status_text(model.state)
    summary["HostConfig"] = fixed.host_config_shown
    summary["NetworkSettings"] = {"Networks": {}}
    summary["Mounts"] = fixed.mounts
    return cast(ContainerSummary, summary)


def _summary_host_config(host_config: Mapping[str, Any]) -> SummaryHostConfig:
    shown: SummaryHostConfig = {"NetworkMode": host_config.get("NetworkMode") or "default"}
    if annotations := host_config.get("Annotations"):
        shown["Annotations"] = dict(annotations)
    return shown


def summary_json(live: LiveContainer, version: ApiVersion, manifest: OCIDescriptor | None) -> bytes:
    """`summary_at(summarize_container(live, manifest=manifest), ...)` as JSON bytes, for a
    daemon without networking (whose hook would add the networks) and without sizes.

    Only the Status text ("Up 5 seconds") changes with time alone: the rest is encoded
    once and again only when what it shows changes (name, state, health, image, the
    API version asked). Building and encoding 200 entries' dicts at every list was most
    of its CPU, and their garbage set off the full collections that made its p99 (issue
    13)."""
    fixed = _fixed(live)
    model = live.model
    state = model.state
    health = state.health
    shown_for = (
        version,
        model.name,
        state.status,
        manifest,
        (health["Status"], health["FailingStreak"]) if health is not None else None,
    )
    if fixed.json_for != shown_for:
        entry: dict[str, Any] = dict(
            summary_at(summarize_container(live, manifest=manifest), version, health)
        )
        keys = list(entry)
        cut = keys.index("Status")
        head = jsonbytes.dumps({k: entry[k] for k in keys[:cut]})
        tail = jsonbytes.dumps({k: entry[k] for k in keys[cut + 1 :]})
        fixed.json_head = head[:-1] + b',"Status":'
        fixed.json_tail = b"," + tail[1:] if len(tail) > 2 else b"}"
        fixed.json_for = shown_for
    return fixed.json_head + jsonbytes.dumps(status_text(state)) + fixed.json_tail
