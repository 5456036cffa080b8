"""What `HEAD /containers/{id}/archive` reports about a path: dockerd's ContainerPathStat.

The mode is Go's ``os.FileMode``: permission bits as in ``st_mode``, but the file
type and the setuid/setgid/sticky bits live in high bits of their own, because
that is what the docker CLI decodes.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Any

from daemon.timefmt import rfc3339_nano

GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27
GO_MODE_DEVICE = 1 << 26
GO_MODE_NAMED_PIPE = 1 << 25
GO_MODE_SOCKET = 1 << 24
GO_MODE_SETUID = 1 << 23
GO_MODE_SETGID = 1 << 22
GO_MODE_CHAR_DEVICE = 1 << 21
GO_MODE_STICKY = 1 << 20

_TYPE_BITS = {
    stat.S_IFDIR: GO_MODE_DIR,
    stat.S_IFLNK: GO_MODE_SYMLINK,
    stat.S_IFBLK: GO_MODE_DEVICE,
    stat.S_IFCHR: GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE,
    stat.S_IFIFO: GO_MODE_NAMED_PIPE,
    stat.S_IFSOCK: GO_MODE_SOCKET,
}


def go_file_mode(st_mode: int) -> int:
    """``st_mode`` as Go's ``os.FileMode`` bits."""
    mode = st_mode & 0o777 | _TYPE_BITS.get(stat.S_IFMT(st_mode), 0)
    if st_mode & stat.S_ISUID:
        mode |= GO_MODE_SETUID
    if st_mode & stat.S_ISGID:
        mode |= GO_MODE_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= GO_MODE_STICKY
    return mode


@dataclass(frozen=True)
class PathStat:
    name: str
    size: int
    mode: int  # Go os.FileMode bits
    mtime: str
    link_target: str = ""

    @classmethod
    def from_stat(cls, name: str, st: Any, link_target: str = "") -> PathStat:
        return cls(
            name, st.st_size, go_file_mode(st.st_mode), rfc3339_nano(st.st_mtime_ns), link_target
        )

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & GO_MODE_DIR)

    def as_json(self) -> dict[str, Any]:
        # Field order and names of dockerd's types.ContainerPathStat.
        return {
            "name": self.name,
            "size": self.size,
            "mode": self.mode,
            "mtime": self.mtime,
            "linkTarget": self.link_target,
        }
