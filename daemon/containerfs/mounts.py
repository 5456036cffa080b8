"""mount(2), umount2(2) and fstatfs(2) through libc: a stopped container's rootfs, mounted.

A container without a running task has no mount namespace to look into, so its
rootfs mounts (what the snapshotter returned, e.g. one overlay) are mounted on a
private directory of the daemon for the length of one copy.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from libcontainerd.types import MountLike

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_DIRSYNC = 0x80
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 0x2

# Options that are flags to mount(2); anything else is filesystem data.
_FLAGS = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "sync": MS_SYNCHRONOUS,
    "dirsync": MS_DIRSYNC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "bind": MS_BIND,
    "rbind": MS_BIND | MS_REC,
}
_IGNORED = {"rw", "defaults", "suid", "dev", "exec", "async", "atime", "diratime"}

# Filesystems whose content is the kernel's, not the container's: a copy shows
# their mount point but does not descend (a running container's /proc, /sys).
PSEUDO_FS_MAGIC = frozenset(
    {
        0x9FA0,  # proc
        0x62656572,  # sysfs
        0x27E0EB,  # cgroup
        0x63677270,  # cgroup2
        0x1CD1,  # devpts
        0x19800202,  # mqueue
        0x64626720,  # debugfs
        0x74726163,  # tracefs
        0x73636673,  # securityfs
        0xCAFE4A11,  # bpf
        0x62656570,  # configfs
        0x65735543,  # fusectl
        0x6E736673,  # nsfs
    }
)


# The process's own symbols, libc's among them (as libcontainerd/local/monitor.py):
# ctypes.util.find_library runs `ldconfig -p` (or gcc) at every daemon start.
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.fstatfs.argtypes = [ctypes.c_int, ctypes.c_void_p]


def _check(result: int, what: str, path: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}", path)


def _split_options(options: Sequence[str]) -> tuple[int, str]:
    flags, data = 0, []
    for option in options:
        if option in _FLAGS:
            flags |= _FLAGS[option]
        elif option not in _IGNORED:
            data.append(option)
    return flags, ",".join(data)


def mount_all(mounts: Sequence[MountLike], target: str) -> None:
    """Mount each of ``mounts`` on ``target`` in turn, as containerd's mount.All does."""
    for index, spec in enumerate(mounts):
        flags, data = _split_options(spec.options)
        readonly_bind = flags & MS_BIND and flags & MS_RDONLY
        try:
            _check(
                _libc.mount(
                    spec.source.encode(),
                    target.encode(),
                    spec.type.encode(),
                    flags & ~MS_RDONLY if readonly_bind else flags,
                    data.encode() or None,
                ),
                f"mount {spec.type}",
                target,
            )
            if readonly_bind:
                # A bind mount ignores MS_RDONLY until it is remounted.
                _check(
                    _libc.mount(None, target.encode(), None, flags | MS_REMOUNT, None),
                    "remount read-only",
                    target,
                )
        except OSError:
            for _ in range(index):
                unmount(target)
            raise


def unmount(target: str) -> None:
    """Unmount ``target``; lazily if something still holds it."""
    if _libc.umount2(target.encode(), 0) != 0:
        code = ctypes.get_errno()
        if code == 16:  # EBUSY
            _check(_libc.umount2(target.encode(), MNT_DETACH), "umount", target)
        elif code != 22:  # EINVAL: not mounted
            raise OSError(code, f"umount: {os.strerror(code)}", target)


def fs_magic(fd: int) -> int:
    """The filesystem type (``f_type``) of an open file."""
    buffer = ctypes.create_string_buffer(256)  # larger than struct statfs on every ABI
    _check(_libc.fstatfs(fd, buffer), "fstatfs", f"fd {fd}")
    return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF


def mount_in_private_dir(mounts: Sequence[MountLike], base: Path, prefix: str) -> str:
    """Mount `mounts` on a fresh directory under `base` (made 0700); its path."""
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = tempfile.mkdtemp(prefix=prefix, dir=base)
    try:
        mount_all(mounts, target)
    except BaseException:
        os.rmdir(target)
        raise
    return target


def unmount_private_dir(target: str) -> None:
    unmount(target)
    os.rmdir(target)
