"""A container's rootfs layers, for reading its filesystem without its task: diff, export, df.

The snapshotter's mounts are kept from `create` (after a daemon restart, one
Snapshots.Mounts per container the first time), so this costs no RPC in steady
state.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from libcontainerd import errors as lcd_errors
from libcontainerd.types import Mount, MountLike

from . import errors
from .container.live import LiveContainer
from .container.model import Status
from .containerfs import scope
from .containerfs.mounts import mount_in_private_dir, unmount_private_dir
from .containerfs.overlay import Layers, UnsupportedRootfs, layers_of, read_only_view


def check_usable(live: LiveContainer, ref: str) -> None:
    """dockerd's rule for reading a container's files: not while it is being removed."""
    if live.machine.removed:
        raise errors.NotFound(f"No such container: {ref}")
    if live.model.state.status in (Status.REMOVING, Status.DEAD):
        raise errors.Conflict(f"container {live.id} is marked for removal")


async def rootfs_mounts(live: LiveContainer) -> list[Mount]:
    if live.lcd is None:
        raise errors.SystemError(f"container {live.id} has no containerd record")
    try:
        mounts = list(await live.lcd.rootfs_mounts())
    except lcd_errors.LibcontainerdError as exc:
        raise errors.SystemError(f"cannot find the rootfs of {live.id}: {exc}") from None
    if not mounts:
        raise errors.SystemError(f"container {live.id} has no root filesystem")
    return mounts


async def rootfs_layers(live: LiveContainer) -> Layers:
    """Where the container's own changes and the image's layers are on disk."""
    try:
        return layers_of(await rootfs_mounts(live))
    except UnsupportedRootfs as exc:
        raise errors.SystemError(f"cannot read the layers of {live.id}: {exc}") from None


@asynccontextmanager
async def read_only_rootfs(
    rootfs: Sequence[MountLike], base: Path, container_id: str, purpose: str
) -> AsyncIterator[int]:
    """A container's rootfs mounted read-only on a private directory under `base` for the
    length of the block: the descriptor of its root. `purpose` names the work in errors."""
    try:
        view = read_only_view(rootfs)
    except UnsupportedRootfs as exc:
        raise errors.SystemError(f"cannot {purpose}: {exc}") from None
    prefix = f"{purpose.split()[0]}-{container_id[:12]}-"
    try:
        target = await asyncio.to_thread(mount_in_private_dir, view, base, prefix)
    except OSError as exc:
        raise errors.SystemError(f"cannot mount the rootfs of {container_id}: {exc}") from None
    try:
        root_fd = os.open(target, scope.DIR_FLAGS)
        try:
            yield root_fd
        finally:
            os.close(root_fd)
    finally:
        await asyncio.to_thread(unmount_private_dir, target)
