"""Reading a file of a container's root filesystem, mounted or not.

The user a container runs as is looked up in its /etc/passwd before the task
exists, when the rootfs is only a snapshot: a stack of layer directories (the
overlay mounts containerd returns from Snapshots.Prepare). Reading the layers
directly costs no mount and no RPC. Symlinks resolve inside the root.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Sequence

from libcontainerd.types import MountLike

from ..smallfile import read_bytes

# Reads an absolute path of the container's filesystem: its bytes, or None if absent.
# The readers below remember which entries each layer has: one serves one lookup (a
# spec build, an exec's user), not a filesystem that changes meanwhile.
FileReader = Callable[[str], bytes | None]
_MAX_SYMLINKS = 40
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


class Layers:
    """The merged view of overlay layers, topmost first (a single dir for a plain rootfs).

    Each lookup keeps the lstat it made: resolving a path once stats each layer's entry
    once (reading /etc/passwd and /etc/group at every create and start was a fifth of the
    spec build, issue 13). A reader also remembers every lstat and opaque mark it saw:
    it lives for one spec build, whose lookups of /etc/passwd and /etc/group walk the
    same /etc of every layer (10 lstat calls a build, now 4)."""

    def __init__(self, layers: Sequence[str]) -> None:
        self.layers = list(layers)
        self._seen: dict[str, os.stat_result | None] = {}
        self._opaque: dict[str, bool] = {}

    def _lstat(self, path: str) -> os.stat_result | None:
        try:
            return self._seen[path]
        except KeyError:
            found = self._seen[path] = _lstat(path)
            return found

    def seen(self) -> dict[str, os.stat_result | None]:
        """Every host path this reader lstat'ed, with what it found (None: nothing).
        What it read is known by them: a file's content, a link's target and a
        directory's entries and opaque mark all change its lstat (ctime at least)."""
        return dict(self._seen)

    def _is_opaque(self, path: str) -> bool:
        try:
            return self._opaque[path]
        except KeyError:
            found = self._opaque[path] = _is_opaque(path)
            return found

    def find(self, parts: Sequence[str]) -> tuple[str, os.stat_result] | None:
        """Host path (and lstat) of the entry the merged view shows at `parts`, if any."""
        last_layer = len(self.layers) - 1
        for number, layer in enumerate(self.layers):
            host, hidden_below = layer, False
            for index, part in enumerate(parts):
                host = os.path.join(host, part)
                st = self._lstat(host)
                if st is None:
                    break
                if _is_whiteout(st):
                    return None
                if index == len(parts) - 1:
                    return host, st
                if not stat.S_ISDIR(st.st_mode):
                    return None  # a file here hides whatever lower layers have below it
                # The lowest layer has nothing below it to hide.
                if number < last_layer:
                    hidden_below = hidden_below or self._is_opaque(host)
            if hidden_below:
                return None
        return None

    def resolve(self, path: str) -> str | None:
        """Follow symlinks component by component, never above the root."""
        found = self._resolve(path)
        return found[0] if found is not None else None

    def _resolve(self, path: str) -> tuple[str, os.stat_result] | None:
        pending = [p for p in path.split("/") if p]
        pending.reverse()  # popped from the end
        resolved: list[str] = []
        last: tuple[str, os.stat_result] | None = None  # the entry at `resolved`
        links = 0
        while pending:
            part = pending.pop()
            if part == ".":
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                    last = None
                continue
            found = self.find([*resolved, part])
            if found is None:
                return None
            host, st = found
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > _MAX_SYMLINKS:
                    return None
                target = os.readlink(host)
                if target.startswith("/"):
                    resolved = []
                    last = None
                pending += reversed([p for p in target.split("/") if p])
                continue
            resolved.append(part)
            last = found
        if not resolved:
            return None
        return last if last is not None else self.find(resolved)

    def read(self, path: str) -> bytes | None:
        found = self._resolve(path)
        if found is None or not stat.S_ISREG(found[1].st_mode):
            return None
        return read_bytes(found[0])

    def beneath(self, upper: str) -> Layers | None:
        """These layers with `upper` on top, keeping what this reader saw, if `upper`
        holds nothing at the paths it looked at (the merged view of those is then the
        same); None if it does. What it saw gains those paths in `upper` (nothing
        there), so that `seen` covers a file put there later."""
        top = Layers([upper, *self.layers])
        top._seen = dict(self._seen)
        top._opaque = dict(self._opaque)
        for path in self._seen:
            for layer in self.layers:
                if path.startswith(layer) and path[len(layer) : len(layer) + 1] == "/":
                    # The first component is enough: nothing is below it if it is absent.
                    first = path[len(layer) + 1 :].split("/", 1)[0]
                    if top._lstat(os.path.join(upper, first)) is not None:
                        return None
                    break
        return top


def layered_reader(layers: Sequence[str]) -> FileReader:
    """Reads through overlay layer directories, topmost first, honouring whiteouts."""
    return Layers(layers).read


def rootfs_reader(rootfs: str) -> FileReader:
    """Reads a mounted (or plain directory) root filesystem."""
    return Layers([rootfs]).read


def _option(options: Sequence[str], key: str) -> str | None:
    prefix = key + "="
    return next((o[len(prefix) :] for o in options if o.startswith(prefix)), None)


def reader_for_mounts(mounts: Sequence[MountLike]) -> FileReader:
    """Reads the rootfs that `mounts` (from Snapshots.Prepare or .Mounts) would mount."""
    return layers_for_mounts(mounts).read


def layers_for_mounts(mounts: Sequence[MountLike]) -> Layers:
    """`reader_for_mounts`'s reader as its object: `.read`, and `.seen()` after."""
    if len(mounts) != 1:
        raise ValueError(f"expected one rootfs mount, got {len(mounts)}")
    mount = mounts[0]
    if mount.type == "bind":
        return Layers([mount.source])
    if mount.type == "overlay":
        upper = _option(mount.options, "upperdir")
        lower = _option(mount.options, "lowerdir") or ""
        return Layers(([upper] if upper else []) + [d for d in lower.split(":") if d])
    raise ValueError(f"cannot read a rootfs mount of type {mount.type!r}")


def overlay_layers(mounts: Sequence[MountLike]) -> tuple[str, tuple[str, ...]] | None:
    """(upper directory, lower layers topmost first) of an overlay rootfs with both;
    None for any other rootfs."""
    if len(mounts) != 1 or mounts[0].type != "overlay":
        return None
    options = mounts[0].options
    upper = _option(options, "upperdir")
    lowers = tuple(d for d in (_option(options, "lowerdir") or "").split(":") if d)
    return (upper, lowers) if upper and lowers else None


def mapping_reader(files: Mapping[str, bytes]) -> FileReader:
    """Reads from a dict of absolute path -> content (tests, or files already in hand)."""
    return files.get
