"""COPY and ADD: which files, their checksum (the cache key), and the tar that puts them
in place.

The files are gathered on this machine (from the context, or from another
stage's or image's filesystem fetched into a private directory), written into
one tar whose names are relative to the container's root, and that tar is
unpacked into the step's container by the same extractor `docker cp` uses.

Destination rules, as the classic builder's: a destination ending in `/` (or
several sources) is a directory; a single file goes into an existing directory
of that name, else becomes the named file; a directory source copies its
contents, its own mode and times going to the destination directory; a new
destination directory is owned by `--chown`'s user. Files keep their mode and
times and are owned by root, or by `--chown`'s user. ADD unpacks a local tar
(plain, gzip, bzip2, xz) into the destination, owners as in the archive.

The checksum covers every file's name below the source, mode, size, link target
and content, not its times nor its owner, so an unchanged context hits the cache
however it was sent, and a changed file misses from its COPY on.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Source:
    path: Path  # on this machine, symlinks already followed
    name: str  # as the Dockerfile gave it (after glob expansion)

    @property
    def is_dir(self) -> bool:
        return self.path.is_dir()


def _file_digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _entries(path: Path) -> Iterator[tuple[str, os.stat_result, Path]]:
    """(name below `path`, lstat, host path) for `path` and everything under it, sorted."""
    st = path.lstat()
    yield "", st, path
    if stat.S_ISDIR(st.st_mode):
        for name in sorted(os.listdir(path)):
            for rel, child_st, child in _entries(path / name):
                yield posixpath.join(name, rel) if rel else name, child_st, child


def checksum(sources: list[Source]) -> str:
    """`file:<hex>`, `dir:<hex>` or `multi:<hex>`, as dockerd names them in history."""
    digests: list[str] = []
    for source in sources:
        hasher = hashlib.sha256()
        for rel, st, host in _entries(source.path):
            link = os.readlink(host) if stat.S_ISLNK(st.st_mode) else ""
            content = _file_digest(host) if stat.S_ISREG(st.st_mode) else ""
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            hasher.update(f"{rel}\0{st.st_mode:o}\0{size}\0{link}\0{content}\n".encode())
        digests.append(hasher.hexdigest())
    if len(sources) == 1:
        kind = "dir" if sources[0].is_dir else "file"
        return f"{kind}:{digests[0]}"
    return "multi:" + hashlib.sha256("".join(digests).encode()).hexdigest()


def image_checksum(image_id: str, paths: list[str]) -> str:
    """The key of files taken from an image (`--from`): its ID and the paths named."""
    text = "\0".join([image_id, *paths])
    kind = "multi" if len(paths) > 1 else "file"
    return f"{kind}:{hashlib.sha256(text.encode()).hexdigest()}"


def is_archive(path: Path) -> bool:
    """A local tar, compressed or not, that ADD unpacks."""
    if not path.is_file():
        return False
    try:
        with tarfile.open(path, mode="r:*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False


@dataclass(frozen=True)
class Destination:
    path: str  # absolute, in the container
    is_dir: bool  # the sources go into it
    exists_as_dir: bool


def _owned(info: tarfile.TarInfo, owner: tuple[int, int]) -> tarfile.TarInfo:
    info.uid, info.gid = owner
    info.uname = info.gname = ""
    return info


def _rel(container_path: str) -> str:
    return posixpath.normpath(container_path).lstrip("/")


def write_tar(
    out: Path,
    sources: list[Source],
    dest: Destination,
    owner: tuple[int, int],
    *,
    unpack_archives: bool,
    mtime: int,
) -> None:
    """The tar that puts `sources` at `dest` once unpacked at the container's root."""
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if dest.is_dir and not dest.exists_as_dir and dest.path != "/":
            info = tarfile.TarInfo(_rel(dest.path))
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = mtime
            tar.addfile(_owned(info, owner))
        for source in sources:
            if unpack_archives and is_archive(source.path):
                _add_archive(tar, source.path, dest.path)
            elif source.is_dir:
                _add_tree(tar, source.path, _rel(dest.path), owner)
            else:
                target = (
                    posixpath.join(dest.path, posixpath.basename(source.name.rstrip("/")))
                    if dest.is_dir
                    else dest.path
                )
                _add_tree(tar, source.path, _rel(target), owner)


def _add_tree(tar: tarfile.TarFile, path: Path, arcname: str, owner: tuple[int, int]) -> None:
    for rel, _, host in _entries(path):
        name = posixpath.join(arcname, rel) if rel else arcname
        if not name:  # the root itself: its metadata is not ours to change
            continue
        info = tar.gettarinfo(str(host), name)
        _owned(info, owner)
        if info.isreg():
            with host.open("rb") as f:
                tar.addfile(info, f)
        elif info.isdir() or info.issym() or info.islnk():
            tar.addfile(info)
        # Sockets, fifos and devices in a context are left out.


def _add_archive(tar: tarfile.TarFile, path: Path, dest: str) -> None:
    with tarfile.open(path, mode="r:*") as archive:
        for member in archive:
            cleaned = posixpath.normpath(member.name).lstrip("/")
            if cleaned in ("", ".") or cleaned == ".." or cleaned.startswith("../"):
                continue
            member.name = _rel(posixpath.join(dest, cleaned))
            if member.islnk():
                member.linkname = _rel(posixpath.join(dest, posixpath.normpath(member.linkname)))
            if member.isreg():
                tar.addfile(member, archive.extractfile(member))
            elif member.isdir() or member.issym() or member.islnk():
                tar.addfile(member)


class FileSource:
    """A file read by the extractor as the request body would be (`async read(n)`)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")

    async def read(self, n: int = -1) -> bytes:
        return self._file.read(n)

    def close(self) -> None:
        self._file.close()
