"""What `docker diff` lists: a container's changes, read from its overlay upper directory.

Everything in the upper directory is something the container changed: a name
that no lower layer shows is added, one that a lower layer shows is modified, a
whiteout is a deletion. An opaque directory hides all of its lower content, so
each lower name it does not hold again is deleted. A directory copied up only
because something below it changed is reported as modified when it has a
reported change below it (as dockerd does: the parents of a change are listed),
or when its own mode or owner changed; a directory listed only because the
runtime created a mount point in it is not.

dockerd keeps the mount points it needs (/etc/hosts, /proc, ...) in an "init"
layer under the container's own, so they never show up as changes; runc creates
them in the upper directory instead, so they are left out here by name when no
lower layer has them.

The upper directory belongs to the container (a running one changes it while we
read), so it is walked through directory descriptors and no symlink in it is
followed. The lower layers are immutable; a lookup there goes one name at a time
from a directory known to be a real directory, so a link is never followed either.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from .overlay import Layers, is_opaque, is_whiteout
from .scope import DIR_FLAGS

# What dockerd's init layer holds, so that a fresh container shows no change.
MOUNT_STUBS = frozenset(
    {"/.dockerenv", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/sys"}
)


class Kind(enum.IntEnum):
    MODIFIED = 0
    ADDED = 1
    DELETED = 2


@dataclass(frozen=True)
class Change:
    path: str
    kind: Kind


@dataclass
class _Dir:
    """An upper directory being walked, with the lower directories that show through it."""

    fd: int
    path: str  # in the container: "/" for the root
    lower: Sequence[str]  # the lower layers' directories at `path`, top first
    names: Iterator[str]
    deleted: frozenset[str]  # lower names an opaque directory hides
    kind: Kind | None  # its own change, if any besides what is below it
    below: list[Change] = field(default_factory=list)


def _child(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}"


def _lookup(lower: Sequence[str], name: str) -> tuple[os.stat_result, int] | None:
    """What the lower layers show at ``name``: its stat and which of ``lower`` holds it."""
    for index, directory in enumerate(lower):
        try:
            st = os.lstat(os.path.join(directory, name))
        except FileNotFoundError:
            continue
        return None if is_whiteout(st) else (st, index)
    return None


def _descend(lower: Sequence[str], name: str) -> list[str]:
    """The lower directories at ``name`` (a directory in ``lower[0]``), top first."""
    found: list[str] = []
    for directory in lower:
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            break  # a whiteout or a file here hides whatever is further down
        found.append(path)
        if is_opaque(path):
            break
    return found


def _lower_names(lower: Sequence[str]) -> set[str]:
    """The names the lower directories show together (whiteouts hide those below them)."""
    seen: set[str] = set()
    shown: set[str] = set()
    for directory in lower:
        for name in os.listdir(directory):
            if name in seen:
                continue
            seen.add(name)
            if not is_whiteout(os.lstat(os.path.join(directory, name))):
                shown.add(name)
    return shown


def _open_dir(
    fd: int,
    path: str,
    upper: os.stat_result,
    lower: Sequence[str],
    found: tuple[os.stat_result, int] | None,
) -> _Dir:
    names = set(os.listdir(fd))
    if found is None or not stat.S_ISDIR(found[0].st_mode):
        # New here (or replacing a file): everything below is new too.
        kind = Kind.ADDED if found is None else Kind.MODIFIED
        return _Dir(fd, path, (), iter(sorted(names)), frozenset(), kind)
    old, index = found
    own = (upper.st_mode, upper.st_uid, upper.st_gid) != (old.st_mode, old.st_uid, old.st_gid)
    shown = _descend(lower[index:], os.path.basename(path))
    deleted: frozenset[str] = frozenset()
    if is_opaque(fd):
        deleted = frozenset(_lower_names(shown) - names)
        shown = []
    return _Dir(
        fd, path, shown, iter(sorted(names | deleted)), deleted, Kind.MODIFIED if own else None
    )


def _step(top: _Dir, name: str, stack: list[_Dir]) -> None:
    """Look at one name of the directory on top of the stack."""
    path = _child(top.path, name)
    if name in top.deleted:
        top.below.append(Change(path, Kind.DELETED))
        return
    try:
        st = os.stat(name, dir_fd=top.fd, follow_symlinks=False)
    except FileNotFoundError:
        return  # gone since the listing
    if is_whiteout(st):
        top.below.append(Change(path, Kind.DELETED))
        return
    found = _lookup(top.lower, name)
    if found is None and path in MOUNT_STUBS:
        return
    if not stat.S_ISDIR(st.st_mode):
        top.below.append(Change(path, Kind.ADDED if found is None else Kind.MODIFIED))
        return
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=top.fd)
    except OSError:
        return  # gone or replaced by something else since it was looked at
    try:
        stack.append(_open_dir(fd, path, st, top.lower, found))
    except BaseException:
        os.close(fd)
        raise


def upper_changes(layers: Layers) -> list[Change]:
    """The changes of the rootfs in ``layers``: parents before children, names in order."""
    fd = os.open(layers.upper, DIR_FLAGS)
    stack: list[_Dir] = []
    try:
        root = _Dir(fd, "/", layers.lowers, iter(sorted(os.listdir(fd))), frozenset(), None)
        stack.append(root)
        while stack:
            top = stack[-1]
            name = next(top.names, None)
            if name is not None:
                _step(top, name, stack)
                continue
            os.close(stack.pop().fd)
            if stack:
                parent = stack[-1]
                if top.kind is not None or top.below:
                    parent.below.append(Change(top.path, top.kind or Kind.MODIFIED))
                    parent.below.extend(top.below)
    except BaseException:
        if not stack:
            os.close(fd)
        raise
    finally:
        for opened in stack:
            os.close(opened.fd)
    return root.below
