"""A shared or slave bind needs a source that can propagate, checked at start as dockerd
20.10 checks it: the mount holding the source (its longest mount point that is a parent
of the source's real path) must be shared for shared/rshared, shared or a slave for
slave/rslave; otherwise the start fails (dockerd's 500, with its text). Without the
check the container would start with a bind that propagates nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .errors import StartError
from .mounts import UserMount

MOUNTINFO = "/proc/self/mountinfo"
_SHARED = frozenset({"shared", "rshared"})
_SLAVE = frozenset({"slave", "rslave"})
_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def _mounts(mountinfo: str) -> list[tuple[str, list[str]]]:
    """(mount point, optional fields) of each line, in the file's order."""
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        found.append((_unescape(fields[4]), fields[6 : fields.index("-", 6)]))
    return found


def _holding(path: str, mounts: Sequence[tuple[str, list[str]]]) -> tuple[str, list[str]]:
    """The mount `path` is on: the longest parent mount point (the first of equal ones)."""
    best: tuple[str, list[str]] = ("", [])
    for point, optional in mounts:
        parent = point == "/" or path == point or path.startswith(point + "/")
        if parent and len(point) > len(best[0]):
            best = (point, optional)
    return best


def check_bind_propagation(mounts: Sequence[UserMount], mountinfo_path: str = MOUNTINFO) -> None:
    """StartError (500) for a shared or slave bind whose source's mount cannot propagate."""
    wanted = [m for m in mounts if m.type == "bind" and m.propagation in _SHARED | _SLAVE]
    if not wanted:
        return  # the usual case: mountinfo is not read
    with open(mountinfo_path) as f:
        table = _mounts(f.read())
    for mount in wanted:
        point, optional = _holding(os.path.realpath(mount.source), table)
        if mount.propagation in _SHARED:
            if not any(tag.startswith("shared:") for tag in optional):
                raise StartError(
                    f"path {mount.source} is mounted on {point} but it is not a shared mount"
                )
        elif not any(tag.startswith(("shared:", "master:")) for tag in optional):
            raise StartError(
                f"path {mount.source} is mounted on {point} but it is not a shared or slave mount"
            )
