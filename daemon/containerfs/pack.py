"""A path of a container as a tar stream, produced chunk by chunk (what `docker cp` downloads).

The walk goes by directory descriptors and never follows a symlink: links are
archived as links. Entries are named as dockerd names them: the requested
path's base name (the "rebase" name, "." for "dir/.", and nothing for "/", so
the root's entries are "/", "/bin/", ...), then the path below it; directories
in name order, depth first. A file seen again through another hard link is
stored as a link to its first name. Mount points of kernel filesystems (a
running container's /proc and /sys) are archived as empty directories.

Headers are written from what ``fstat`` says of the open file, and exactly that
many bytes follow it (zeros pad a file that shrank meanwhile), so a file that
changes during the copy cannot corrupt the stream.
"""

from __future__ import annotations

import logging
import os
import stat
import tarfile
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass

from .. import tario
from .changes import Change, Kind
from .mounts import PSEUDO_FS_MAGIC, fs_magic
from .scope import DIR_FLAGS

log = logging.getLogger(__name__)

CHUNK_SIZE = 256 * 1024

_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DEVICE_TYPES = {stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE}


@dataclass
class _OpenDir:
    fd: int
    tar_name: str
    dev: int
    names: Iterator[str]


def _header(
    name: str, st: os.stat_result, kind: bytes, *, size: int = 0, linkname: str = ""
) -> bytes:
    device = (0, 0)
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        device = (os.major(st.st_rdev), os.minor(st.st_rdev))
    return tario.header(
        name,
        kind,
        mode=stat.S_IMODE(st.st_mode),
        mtime=int(st.st_mtime),
        size=size,
        linkname=linkname,
        owner=(st.st_uid, st.st_gid),
        device=device,
    )


class _Packer:
    """Builds the stream; ``emit`` batches small pieces into chunks of about CHUNK_SIZE."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._first_names: dict[tuple[int, int], str] = {}

    def emit(self, data: bytes) -> Iterator[bytes]:
        self._out += data
        if len(self._out) >= CHUNK_SIZE:
            yield bytes(self._out)
            self._out.clear()

    def flush(self) -> Iterator[bytes]:
        if self._out:
            yield bytes(self._out)
            self._out.clear()

    def _hard_link(self, st: os.stat_result, name: str) -> str | None:
        """The first name of a multiply linked file already archived, else None (and remember)."""
        if st.st_nlink <= 1:
            return None
        key = (st.st_dev, st.st_ino)
        first = self._first_names.get(key)
        if first is None:
            self._first_names[key] = name
        return first

    def entry(self, dir_fd: int, name: str, st: os.stat_result, tar_name: str) -> Iterator[bytes]:
        """A non-directory entry: its header, and its data for a regular file."""
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFREG:
            yield from self._regular(dir_fd, name, tar_name)
            return
        if kind == stat.S_IFSOCK:
            return  # tar cannot hold sockets; dockerd skips them too
        first = self._hard_link(st, tar_name)
        if first is not None:
            yield from self.emit(_header(tar_name, st, tarfile.LNKTYPE, linkname=first))
        elif kind == stat.S_IFLNK:
            target = os.readlink(name, dir_fd=dir_fd)
            yield from self.emit(_header(tar_name, st, tarfile.SYMTYPE, linkname=target))
        elif kind == stat.S_IFIFO:
            yield from self.emit(_header(tar_name, st, tarfile.FIFOTYPE))
        elif kind in _DEVICE_TYPES:
            yield from self.emit(_header(tar_name, st, _DEVICE_TYPES[kind]))

    def _regular(self, dir_fd: int, name: str, tar_name: str) -> Iterator[bytes]:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return  # replaced by something else since it was listed
            first = self._hard_link(st, tar_name)
            if first is not None:
                yield from self.emit(_header(tar_name, st, tarfile.LNKTYPE, linkname=first))
                return
            yield from self.emit(_header(tar_name, st, tarfile.REGTYPE, size=st.st_size))
            remaining = st.st_size
            while remaining:
                want = min(CHUNK_SIZE, remaining)
                try:
                    data = os.read(fd, want)
                except OSError as exc:
                    log.warning("copy: reading %s failed: %s", tar_name, exc)
                    data = b""
                if not data:
                    data = bytes(want)  # the file shrank (or broke): keep the stream whole
                remaining -= len(data)
                yield from self.emit(data)
            yield from self.emit(tario.padding(st.st_size))
        finally:
            os.close(fd)

    def directory(self, fd: int, st: os.stat_result, tar_name: str, dev: int) -> _OpenDir | None:
        """Emit nothing; say whether (and how) to descend into the directory open at ``fd``."""
        if st.st_dev != dev:
            try:
                if fs_magic(fd) in PSEUDO_FS_MAGIC:
                    return None
            except OSError:
                return None
        names = sorted(os.listdir(fd))
        return _OpenDir(fd, tar_name, st.st_dev, iter(names))


def _child_name(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}" if parent not in ("", "/") else f"/{name}"


def pack(
    parent_fd: int, name: str, dir_fd: int | None, rebase: str
) -> Generator[bytes, None, None]:
    """The tar stream of entry ``name`` in ``parent_fd`` (a tree, if a directory).

    ``dir_fd`` is the entry already open as a directory, if it is one (for the
    root, ``name`` is ""). Entries are named from ``rebase`` ("/" for the root).
    The descriptors stay the caller's.
    """
    packer = _Packer()
    top = rebase if rebase != "/" else ""
    st = (
        os.fstat(dir_fd)
        if dir_fd is not None
        else os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    )
    if not stat.S_ISDIR(st.st_mode):
        yield from packer.entry(parent_fd, name, st, top)
        yield from packer.emit(tario.END_OF_ARCHIVE)
        yield from packer.flush()
        return
    fd = os.dup(dir_fd) if dir_fd is not None else os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    stack: list[_OpenDir] = []
    try:
        yield from packer.emit(_header(top, st, tarfile.DIRTYPE))
        first = packer.directory(fd, st, top, st.st_dev)
        if first is None:
            os.close(fd)
        else:
            stack.append(first)
        while stack:
            current = stack[-1]
            child = next(current.names, None)
            if child is None:
                os.close(stack.pop().fd)
                continue
            yield from _walk_child(packer, current, child, stack)
        yield from packer.emit(tario.END_OF_ARCHIVE)
        yield from packer.flush()
    finally:
        for opened in stack:
            os.close(opened.fd)


def _walk_child(
    packer: _Packer, current: _OpenDir, child: str, stack: list[_OpenDir]
) -> Iterator[bytes]:
    tar_name = _child_name(current.tar_name, child)
    try:
        st = os.stat(child, dir_fd=current.fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            yield from packer.entry(current.fd, child, st, tar_name)
            return
        fd = os.open(child, DIR_FLAGS, dir_fd=current.fd)
    except OSError as exc:
        # Gone or swapped since the listing: leave it out, as dockerd logs and moves on.
        log.debug("copy: skipping %s: %s", tar_name, exc)
        return
    try:
        yield from packer.emit(_header(tar_name, st, tarfile.DIRTYPE))
        opened = packer.directory(fd, st, tar_name, current.dev)
    except BaseException:
        os.close(fd)
        raise
    if opened is None:
        os.close(fd)
    else:
        stack.append(opened)


def pack_changes(root_fd: int, changes: Iterable[Change]) -> Generator[bytes, None, None]:
    """A layer tar of ``changes`` (parents before children), read from the merged tree at
    ``root_fd``: each added or modified entry by itself (a directory without its
    content, which has changes of its own when it changed), each deletion a whiteout
    file ``.wh.<name>``, as dockerd exports a container's changes for a commit."""
    packer = _Packer()
    for change in changes:
        path = change.path.lstrip("/")
        parent, _, name = path.rpartition("/")
        if change.kind == Kind.DELETED:
            whiteout = f"{parent}/.wh.{name}" if parent else f".wh.{name}"
            yield from packer.emit(tario.header(whiteout, tarfile.REGTYPE, mode=0, mtime=0))
            continue
        try:
            parent_fd = os.open(parent or ".", DIR_FLAGS, dir_fd=root_fd)
        except OSError as exc:
            log.debug("commit: skipping %s: %s", path, exc)
            continue
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                yield from packer.emit(_header(path, st, tarfile.DIRTYPE))
            else:
                yield from packer.entry(parent_fd, name, st, path)
        except FileNotFoundError:
            log.debug("commit: %s is gone", path)
        finally:
            os.close(parent_fd)
    yield from packer.emit(tario.END_OF_ARCHIVE)
    yield from packer.flush()
