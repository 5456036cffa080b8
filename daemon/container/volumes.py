"""A container's use of its volumes: taken from other containers at create, mounted for
each run, unmounted at its end, and let go of at removal."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .. import errors
from ..volumes.mounts import VolumeMount, inherited_volumes, mounts_of
from .live import LiveContainer
from .model import Container

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger(__name__)


async def mount(daemon: Daemon, live: LiveContainer, announce: bool = True) -> None:
    """Each volume's filesystem mounted for the run (those with DriverOpts); a
    "mount" event per volume, as dockerd sends at start."""
    for volume in mounts_of(live.model.volume_mounts):
        await daemon.volumes.mount(volume.name, live.id)
        if announce:
            daemon.event(
                "volume",
                "mount",
                volume.name,
                {
                    "container": live.id,
                    "destination": volume.destination,
                    "driver": "local",
                    "propagation": "",
                    "read/write": str(volume.rw).lower(),
                },
            )


def volumes_from(daemon: Daemon, host_config: dict[str, Any]) -> list[VolumeMount]:
    """The volumes HostConfig.VolumesFrom takes from other containers ("name[:mode]";
    later entries win at a destination). The entries' syntax and the sources'
    existence are checked with the bind and tmpfs copies (daemon/oci)."""
    found: dict[str, VolumeMount] = {}
    for raw in host_config.get("VolumesFrom") or []:
        ref, _, mode = str(raw).partition(":")
        try:
            source = daemon.get(ref)
        except errors.NotFound:
            continue
        for volume in inherited_volumes(source.model.volume_mounts, mode):
            found[volume.destination] = volume
    return list(found.values())


async def unmount(daemon: Daemon, live: LiveContainer) -> None:
    """The run's use of its volumes ends (once: an "unmount" event each)."""
    for volume in mounts_of(live.model.volume_mounts):
        if await daemon.volumes.unmount(volume.name, live.id):
            daemon.event(
                "volume", "unmount", volume.name, {"container": live.id, "driver": "local"}
            )


def release(daemon: Daemon, model: Container, remove_anonymous: bool) -> None:
    """The container no longer uses its volumes; with `remove_anonymous` the ones made
    for it go too (unless another container uses one, as with VolumesFrom)."""
    daemon.volumes.drop_refs(model.id)
    if not remove_anonymous:
        return
    for volume in mounts_of(model.volume_mounts):
        if volume.named:
            continue
        try:
            daemon.volumes.remove(volume.name, force=True)
        except errors.DaemonError as exc:
            log.info("keeping volume %s of %s: %s", volume.name, model.id[:12], exc)
