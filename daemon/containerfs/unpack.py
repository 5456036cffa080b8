"""A tar stream (plain, gzip, bzip2 or xz) unpacked into a directory of a container.

dockerd's rules: member names are cleaned, and one that would land outside the
extraction directory (``../x``) is refused; absolute names are taken as
relative to it. An existing entry is replaced, unless both are directories
(then the archive's metadata is applied to it); with ``no_overwrite_dir_non_dir``
a directory is never replaced by a non-directory nor the reverse. Missing
parent directories are made (0755, root). Ownership comes from the archive,
or from ``owner`` when given (copyUIDGID); modes and times from the archive,
directory times last, once nothing more is written in them.

Safety: a member's parent is resolved inside the container's root (see
``scope``), so a symlink among its parents, from the container or from the
archive itself, leads somewhere in the container, never out of it. The member
itself is created with ``O_EXCL``/``mkdirat``/``symlinkat`` relative to that
parent and changed only through its own descriptor or with ``AT_SYMLINK_NOFOLLOW``:
no call follows a symlink at the last component. Symlinks in the archive are
created as they are, whatever they point to.

A broken archive (or a body that stops: the client left or stalled): the members
unpacked before the break stay, as with dockerd, which unpacks as it reads too; the
regular file being written when it broke is removed rather than left truncated.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from . import scope

CHUNK_SIZE = 256 * 1024
_MAX_CACHED_PARENTS = 128
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_XATTR_PREFIX = "SCHILY.xattr."


class ArchiveError(ValueError):
    """The archive cannot be unpacked as asked: malformed, escaping, or conflicting."""


@dataclass(frozen=True)
class ExtractOptions:
    no_overwrite_dir_non_dir: bool = False
    owner: tuple[int, int] | None = None  # (uid, gid) for every entry, instead of the archive's


def member_path(name: str) -> str | None:
    """The cleaned member name relative to the extraction directory; "" for the directory
    itself; None when it would be outside of it."""
    cleaned = posixpath.normpath(name) if name else "."
    if cleaned.startswith("/"):
        cleaned = cleaned.lstrip("/") or "."
    if cleaned == ".." or cleaned.startswith("../"):
        return None
    return "" if cleaned == "." else cleaned


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class _Parents:
    """Open directories of the container by member-relative path, resolved in scope."""

    def __init__(self, root_fd: int, dest: str) -> None:
        self._root_fd = root_fd
        self._dest = dest.rstrip("/")
        self._fds: dict[str, int] = {}

    def container_path(self, rel: str) -> str:
        return f"{self._dest}/{rel}" if rel else self._dest or "/"

    def get(self, rel: str) -> int:
        fd = self._fds.get(rel)
        if fd is None:
            if len(self._fds) >= _MAX_CACHED_PARENTS:
                self.clear()
            fd = scope.open_dir(self._root_fd, self.container_path(rel), create=True)
            self._fds[rel] = fd
        return fd

    def clear(self) -> None:
        """Forget every resolution: something was removed, paths may lead elsewhere now."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove(name: str, dir_fd: int, is_dir: bool) -> None:
    if is_dir:
        shutil.rmtree(name, dir_fd=dir_fd)  # the fd-based walk: never follows symlinks
    else:
        os.unlink(name, dir_fd=dir_fd)


def _times(member: tarfile.TarInfo) -> tuple[int, int]:
    mtime = int(member.mtime * 1_000_000_000)
    return mtime, mtime


def _set_xattrs(fd: int, member: tarfile.TarInfo) -> None:
    for key, value in member.pax_headers.items():
        if key.startswith(_XATTR_PREFIX):
            raw = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(fd, key[len(_XATTR_PREFIX) :], raw)
            except OSError as exc:
                # Like dockerd: a filesystem without xattrs (or without the right) is no error.
                if exc.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise


class _Extractor:
    def __init__(self, root_fd: int, dest: str, options: ExtractOptions) -> None:
        self._root_fd = root_fd
        self._dest = dest
        self._options = options
        self._parents = _Parents(root_fd, dest)
        self._dirs: list[tuple[str, tuple[int, int]]] = []

    def _owner(self, member: tarfile.TarInfo) -> tuple[int, int]:
        return self._options.owner or (member.uid, member.gid)

    def member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = member_path(member.name)
        if rel is None:
            raise ArchiveError(
                f"{_quote(posixpath.normpath(member.name))} is outside of {_quote(self._dest)}"
            )
        if not rel:
            return  # the extraction directory itself: dockerd leaves it as it is
        parent, name = posixpath.split(rel)
        parent_fd = self._parents.get(parent)
        existing = _lstat(name, parent_fd)
        merge = False
        if existing is not None:
            merge = stat.S_ISDIR(existing.st_mode) and member.isdir()
            if not merge:
                self._check_overwrite(rel, existing, member.isdir())
                _remove(name, parent_fd, stat.S_ISDIR(existing.st_mode))
                # Paths resolved before may have led through what is gone.
                self._parents.clear()
                parent_fd = self._parents.get(parent)
        if member.isdir():
            self._directory(parent_fd, name, member, merge)
            self._dirs.append((rel, _times(member)))
        elif member.isreg():
            self._regular(tar, parent_fd, name, member)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent_fd)
            os.chown(name, *self._owner(member), dir_fd=parent_fd, follow_symlinks=False)
            os.utime(name, ns=_times(member), dir_fd=parent_fd, follow_symlinks=False)
        elif member.islnk():
            self._hard_link(parent_fd, name, member)
        elif member.ischr() or member.isblk() or member.isfifo():
            self._special(parent_fd, name, member)
        else:
            raise ArchiveError(f"unhandled tar header type {ord(member.type[:1] or b'0')}")

    def _check_overwrite(self, rel: str, existing: os.stat_result, want_dir: bool) -> None:
        if not self._options.no_overwrite_dir_non_dir:
            return
        is_dir = stat.S_ISDIR(existing.st_mode)
        path = self._parents.container_path(rel)
        if is_dir and not want_dir:
            raise ArchiveError(
                f"cannot overwrite directory {_quote(path)} with non-directory {_quote(self._dest)}"
            )
        if not is_dir and want_dir:
            raise ArchiveError(
                f"cannot overwrite non-directory {_quote(path)} with directory {_quote(self._dest)}"
            )

    def _directory(self, parent_fd: int, name: str, member: tarfile.TarInfo, exists: bool) -> None:
        if not exists:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        fd = os.open(name, scope.DIR_FLAGS, dir_fd=parent_fd)
        try:
            os.fchown(fd, *self._owner(member))
            _set_xattrs(fd, member)
            os.fchmod(fd, member.mode & 0o7777)  # after chown, which clears set-id bits
        finally:
            os.close(fd)

    def _regular(
        self, tar: tarfile.TarFile, parent_fd: int, name: str, member: tarfile.TarInfo
    ) -> None:
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent_fd)
        try:
            source = tar.extractfile(member)
            try:
                if source is not None:
                    while chunk := source.read(CHUNK_SIZE):
                        _write_all(fd, chunk)
            except BaseException:
                # The archive broke off (or the disk filled) inside this file: no
                # truncated copy of it is left behind. Members before it stay.
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=parent_fd)
                raise
            os.fchown(fd, *self._owner(member))
            _set_xattrs(fd, member)
            os.fchmod(fd, member.mode & 0o7777)
            os.utime(fd, ns=_times(member))
        finally:
            os.close(fd)

    def _hard_link(self, parent_fd: int, name: str, member: tarfile.TarInfo) -> None:
        target = member_path(member.linkname)
        if not target:
            raise ArchiveError(
                f"invalid hardlink {_quote(self._parents.container_path(member.name))} -> "
                f"{_quote(member.linkname)}"
            )
        path = self._parents.container_path(target)
        with scope.locate(self._root_fd, path, follow_last=False) as source:
            os.link(
                source.name,
                name,
                src_dir_fd=source.parent_fd,
                dst_dir_fd=parent_fd,
                follow_symlinks=False,
            )
        os.chown(name, *self._owner(member), dir_fd=parent_fd, follow_symlinks=False)

    def _special(self, parent_fd: int, name: str, member: tarfile.TarInfo) -> None:
        if member.isfifo():
            os.mkfifo(name, 0o600, dir_fd=parent_fd)
        else:
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            device = os.makedev(member.devmajor, member.devminor)
            os.mknod(name, kind | 0o600, device, dir_fd=parent_fd)
        os.chown(name, *self._owner(member), dir_fd=parent_fd, follow_symlinks=False)
        # chmod has no "don't follow" on Linux: go through an O_PATH descriptor of the node.
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
        try:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise ArchiveError(f"{name} was replaced while it was being unpacked")
            os.chmod(f"/proc/self/fd/{fd}", member.mode & 0o7777)
        finally:
            os.close(fd)
        os.utime(name, ns=_times(member), dir_fd=parent_fd, follow_symlinks=False)

    def finish(self) -> None:
        """Directory times, now that nothing more is written in them."""
        self._parents.clear()
        for rel, times in self._dirs:
            path = self._parents.container_path(rel)
            with (
                contextlib.suppress(FileNotFoundError, NotADirectoryError),
                scope.locate(self._root_fd, path, follow_last=False) as location,
            ):
                os.utime(location.name, ns=times, dir_fd=location.parent_fd, follow_symlinks=False)

    def close(self) -> None:
        self._parents.clear()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Source(Protocol):
    """A blocking byte source: ``read(n)`` gives up to n bytes, b"" at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


class _Counting:
    """Wraps the source to tell an empty body (an empty archive) from a broken one."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self.consumed = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._source.read(size)
        self.consumed += len(data)
        return data


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (member := tar.next()) is not None:
        yield member


def extract(root_fd: int, dest: str, source: Source, options: ExtractOptions) -> None:
    """Unpack the archive read from ``source`` into ``dest``, a resolved container directory.

    Raises ArchiveError for an archive that cannot be unpacked as asked, OSError
    for a failure of the filesystem.
    """
    counting = _Counting(source)
    extractor = _Extractor(root_fd, dest, options)
    try:
        # "r|*": a forward-only stream, compression (gzip, bzip2, xz) told by its magic.
        with tarfile.open(fileobj=counting, mode="r|*", bufsize=CHUNK_SIZE) as tar:  # type: ignore[call-overload]
            for member in _members(tar):
                extractor.member(tar, member)
        extractor.finish()
    except tarfile.ReadError as exc:
        if counting.consumed == 0:
            return  # an empty body is an empty archive, as Go's tar reader sees it
        raise ArchiveError(f"invalid tar archive: {exc}") from None
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"invalid tar archive: {exc}") from None
    finally:
        extractor.close()
