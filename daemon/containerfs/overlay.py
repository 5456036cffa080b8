"""A container's rootfs as the overlay snapshotter lays it out: one writable upper directory
over read-only lower layers, and overlayfs's on-disk marks for what the upper one hides.

The snapshotter describes the rootfs as mount options (``upperdir=``, ``lowerdir=``,
topmost lower first). Reading those directories directly, without a mount, is how
`docker diff` and `docker system df` look at a container's own changes. A deleted
name is a character device 0/0 (a whiteout); a directory whose lower content is
hidden as a whole (removed, then made again) carries the "opaque" xattr; layers
unpacked by containerd use the same marks, so lower layers are read by the same
rules.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from libcontainerd.types import Mount, MountLike

# `trusted.` for a root daemon; `user.` when the snapshotter mounts with userxattr.
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


class UnsupportedRootfs(Exception):
    """The rootfs is not an overlay (or a plain directory) that can be read layer by layer."""


@dataclass(frozen=True)
class Layers:
    """The writable directory of a container's rootfs and the layers under it, top first."""

    upper: str
    lowers: tuple[str, ...]


def layers_of(mounts: Sequence[MountLike]) -> Layers:
    """The layers named by the snapshotter's rootfs mounts."""
    if len(mounts) != 1:
        raise UnsupportedRootfs(f"expected one rootfs mount, got {len(mounts)}")
    mount = mounts[0]
    if mount.type == "bind":
        # A snapshot without a parent: the whole rootfs is the container's own.
        return Layers(mount.source, ())
    if mount.type != "overlay":
        raise UnsupportedRootfs(f"rootfs mount type {mount.type!r} is not overlay")
    upper, lowers = "", ""
    for option in mount.options:
        key, _, value = option.partition("=")
        if key == "upperdir":
            upper = value
        elif key == "lowerdir":
            lowers = value
    if not upper:
        raise UnsupportedRootfs("the rootfs overlay has no upper directory")
    return Layers(upper, tuple(d for d in lowers.split(":") if d))


def read_only_view(mounts: Sequence[MountLike]) -> list[Mount]:
    """Mounts showing the rootfs read-only, usable while the container's own mount exists.

    The upper directory becomes the topmost lower layer: overlayfs refuses a second
    mount that writes to an upper directory in use, but reading one through another
    overlay is allowed with ``index=off`` (it logs a warning).
    """
    layers = layers_of(mounts)
    if not layers.lowers:
        return [Mount("bind", layers.upper, ("rbind", "ro"))]
    lowerdir = ":".join((layers.upper, *layers.lowers))
    return [Mount("overlay", "overlay", ("ro", "index=off", f"lowerdir={lowerdir}"))]


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str | int) -> bool:
    """Whether the directory (a path, or an open descriptor) is marked opaque."""
    for name in _OPAQUE_XATTRS:
        try:
            # A descriptor is never a link; a path's last element must not be followed.
            value = (
                os.getxattr(path, name)
                if isinstance(path, int)
                else os.getxattr(path, name, follow_symlinks=False)
            )
            if value == b"y":
                return True
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EPERM):
                raise
    return False
