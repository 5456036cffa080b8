"""Resolving a path inside a container's root, with chroot semantics, one component at a time.

A symlink met on the way is read and its target spliced into the rest of the
path; an absolute target restarts at the container's root and ``..`` never
climbs above it. Each directory is opened relative to its parent with
``O_NOFOLLOW``, so a symlink swapped in after it was looked at makes the open
fail instead of leading elsewhere.

The path a client sends is first cleaned the way dockerd cleans it (Go's
``filepath.Join("/", p)``: ``..`` is lexical there), keeping a trailing ``/`` or
``/.``, which asks for the directory a symlink points to rather than the link.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections import deque
from dataclasses import dataclass
from typing import NoReturn

# Go's FollowSymlinkInScope gives up after this many links.
MAX_LINKS = 255
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def go_base(path: str) -> str:
    """Go's ``filepath.Base``: the last element, trailing slashes ignored; "/" for the root."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    if not stripped:
        return "/"
    return stripped.rsplit("/", 1)[-1]


def clean_abs(path: str) -> str:
    """``path`` as an absolute, lexically cleaned container path ("/a/../b" is "/b")."""
    cleaned = posixpath.normpath("/" + path)
    return "/" + cleaned.lstrip("/")


def abs_path(path: str) -> str:
    """dockerd's absPath: the cleaned path, keeping a trailing "/" or "/." the client wrote."""
    cleaned = clean_abs(path)
    if go_base(path) == ".":
        cleaned = cleaned.rstrip("/") + "/."
    elif path.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def names_dir(path: str) -> bool:
    """Whether ``path`` (as ``abs_path`` returns it) asks for a directory: ends in / or /."""
    return path.endswith("/") or path.endswith("/.")


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


def _raise(code: int, names: list[str]) -> NoReturn:
    raise OSError(code, os.strerror(code), "/" + "/".join(names))


@dataclass
class Location:
    """Where a container path led: the open directory holding its last component, and that name.

    ``name`` is "" for the root itself (``parent_fd`` is then the root). ``dir_fd``
    is the target opened as a directory, when the walk followed it and it is one.
    The descriptors belong to the location: ``close()`` it.
    """

    path: str
    parent_fd: int
    name: str
    dir_fd: int | None = None

    def lstat(self) -> os.stat_result:
        if self.dir_fd is not None:
            return os.fstat(self.dir_fd)
        return os.stat(self.name, dir_fd=self.parent_fd, follow_symlinks=False)

    def close(self) -> None:
        if self.dir_fd is not None and self.dir_fd != self.parent_fd:
            os.close(self.dir_fd)
        os.close(self.parent_fd)
        self.dir_fd = None

    def __enter__(self) -> Location:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _Walk:
    """The resolved prefix: its names and the open directories along it.

    ``fds[i]`` is the directory "/" + names[:i]. While every name so far is an
    open directory, ``len(fds) == len(names) + 1``; a lenient walk past a missing
    component keeps appending names without descriptors.
    """

    def __init__(self, root_fd: int) -> None:
        self.names: list[str] = []
        self.fds: list[int] = [os.dup(root_fd)]

    @property
    def real(self) -> bool:
        return len(self.fds) == len(self.names) + 1

    def up(self) -> None:
        if self.names:
            if self.real:
                os.close(self.fds.pop())
            self.names.pop()

    def to_root(self) -> None:
        for fd in self.fds[1:]:
            os.close(fd)
        del self.fds[1:]
        self.names.clear()

    def path(self) -> str:
        return "/" + "/".join(self.names)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()


def _walk(
    root_fd: int, path: str, *, follow_last: bool, create: bool, lenient: bool
) -> tuple[_Walk, bool]:
    """Resolve ``path``; returns the walk and whether its last name was left unfollowed."""
    walk = _Walk(root_fd)
    pending = deque(_components(path))
    links = 0
    try:
        while pending:
            part = pending.popleft()
            if part == "..":
                walk.up()
                continue
            last = not pending
            if not walk.real or (last and not follow_last):
                walk.names.append(part)
                if last and not follow_last:
                    return walk, True
                continue
            parent = walk.fds[-1]
            try:
                st = os.stat(part, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                if lenient:
                    walk.names.append(part)
                    continue
                if not create:
                    _raise(errno.ENOENT, [*walk.names, part])
                os.mkdir(part, 0o755, dir_fd=parent)
                st = os.stat(part, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    _raise(errno.ELOOP, [*walk.names, part])
                target = os.readlink(part, dir_fd=parent)
                if target.startswith("/"):
                    walk.to_root()
                pending.extendleft(reversed(_components(target)))
                continue
            if stat.S_ISDIR(st.st_mode):
                walk.fds.append(os.open(part, DIR_FLAGS, dir_fd=parent))
                walk.names.append(part)
                continue
            if not last and not lenient:
                _raise(errno.ENOTDIR, [*walk.names, part])
            walk.names.append(part)  # a non-directory: the end, or lexical from here
        return walk, False
    except BaseException:
        walk.close()
        raise


def locate(root_fd: int, path: str, *, follow_last: bool, create: bool = False) -> Location:
    """Resolve ``path`` under the root; every component must exist (or be created).

    With ``follow_last`` a symlink at the end is followed too; ``create`` makes
    missing directories (mode 0755) on the way, as extraction does for parents.
    Raises OSError: ENOENT, ENOTDIR or ELOOP, its filename the container path.
    """
    walk, unfollowed = _walk(root_fd, path, follow_last=follow_last, create=create, lenient=False)
    fds, names = walk.fds, walk.names
    if not names:
        return Location("/", fds[0], "", fds[0])
    keep_dir = not unfollowed and len(fds) == len(names) + 1
    parent_index = len(names) - 1
    for index, fd in enumerate(fds):
        if index != parent_index and not (keep_dir and index == len(names)):
            os.close(fd)
    return Location(walk.path(), fds[parent_index], names[-1], fds[-1] if keep_dir else None)


def open_dir(root_fd: int, path: str, *, create: bool = False) -> int:
    """An open descriptor of the directory at ``path`` (all symlinks followed in scope)."""
    with locate(root_fd, path, follow_last=True, create=create) as location:
        if location.dir_fd is None:
            _raise(errno.ENOTDIR, location.path.lstrip("/").split("/"))
        fd = location.dir_fd
        if fd == location.parent_fd:  # the root
            return os.dup(fd)
        location.dir_fd = None  # handed over to the caller
        return fd


def scoped_path(root_fd: int, path: str) -> str:
    """The container path ``path`` leads to with every symlink followed; missing parts allowed.

    dockerd's ``linkTarget`` of a symlink: where it points, even when dangling.
    """
    walk, _ = _walk(root_fd, path, follow_last=True, create=False, lenient=True)
    try:
        return walk.path()
    finally:
        walk.close()


def read_file(root_fd: int, path: str, limit: int = 4 * 1024 * 1024) -> bytes | None:
    """A regular file's bytes (at most ``limit``), or None when it is missing or not a file."""
    try:
        with locate(root_fd, path, follow_last=True) as location:
            if location.dir_fd is not None:
                return None
            fd = os.open(
                location.name,
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                dir_fd=location.parent_fd,
            )
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        size = 0
        while size < limit and (chunk := os.read(fd, min(65536, limit - size))):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
