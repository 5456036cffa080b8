"""The build context: the request's tar (plain, gzip, bzip2 or xz) unpacked into a private
directory, with `.dockerignore` applied, and paths in it resolved as COPY sees them.

The tar is checked before anything is unpacked: a member whose name is absolute
or climbs out with `..` refuses the whole context (dockerd would re-root such a
name; refusing is the safe reading of a context no client makes). Unpacking
then goes through the same extractor as `docker cp`, which resolves every
parent inside the directory, so a symlink in the context never leads out of it.
Paths COPY names are resolved in the same scoped way.

`.dockerignore` is read with Docker's rules: patterns are relative to the
context root (`*.md` is the root's only), `**` spans directories, `!` re-includes;
the matching itself is pathspec's gitignore-style matcher with each pattern
anchored at the root. Excluded files are deleted before any instruction runs.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import posixpath
import shutil
import tarfile
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from daemon import errors
from daemon.containerfs import scope
from daemon.containerfs.unpack import ArchiveError, ExtractOptions, extract
from daemon.images.commit import LayerWriter
from daemon.images.compression import DecompressionError, auto_decompress

_MAX_DOCKERFILE = 16 * 1024 * 1024
_BLOCK = 512


@dataclass
class BuildContext:
    """The unpacked context; `close` removes it."""

    root: Path
    root_fd: int
    cleanup_dirs: list[Path] = field(default_factory=list)

    def close(self) -> None:
        """Removes the context; safe to call again."""
        if self.root_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.root_fd)
            self.root_fd = -1
        shutil.rmtree(self.root, ignore_errors=True)
        for directory in self.cleanup_dirs:
            shutil.rmtree(directory, ignore_errors=True)

    def host_path(self, rel: str) -> Path:
        """Where the context path `rel` (symlinks followed, in scope) is on this machine."""
        resolved = scope.scoped_path(self.root_fd, "/" + rel)
        return self.root / resolved.lstrip("/")

    def read(self, rel: str) -> bytes | None:
        return scope.read_file(self.root_fd, "/" + rel, _MAX_DOCKERFILE)

    def glob(self, pattern: str) -> list[str]:
        return glob_in(self.root, pattern)


def glob_in(root: Path, pattern: str) -> list[str]:
    """Paths under `root` matching a pattern of Go's filepath.Match syntax, component by
    component (`*` never spans a `/`), sorted as Go's Glob sorts them."""
    parts = [p for p in posixpath.normpath(pattern).split("/") if p not in ("", ".")]
    found = [""]
    for part in parts:
        next_found: list[str] = []
        for base in found:
            directory = root / base
            if not has_magic(part):
                if os.path.lexists(directory / part):
                    next_found.append(posixpath.join(base, part))
                continue
            with contextlib.suppress(OSError):
                if not directory.is_dir() or directory.is_symlink():
                    continue
                for name in sorted(os.listdir(directory)):
                    if fnmatch.fnmatchcase(name, part):
                        next_found.append(posixpath.join(base, name))
        found = next_found
    return [f for f in found if f]


def has_magic(text: str) -> bool:
    """Whether a COPY source is a pattern rather than a path."""
    return any(ch in text for ch in "*?[\\")


def check_members(path: Path) -> None:
    """Refuses a context with a member outside of it, before anything is unpacked."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                name = member.name
                cleaned = posixpath.normpath(name)
                if name.startswith("/") or cleaned == ".." or cleaned.startswith("../"):
                    raise errors.InvalidParameter(
                        f"invalid build context: {name!r} is outside of the context"
                    )
                if member.islnk():
                    target = posixpath.normpath(member.linkname)
                    if member.linkname.startswith("/") or target.startswith(".."):
                        raise errors.InvalidParameter(
                            f"invalid build context: the hard link {name!r} leads outside of it"
                        )
    except tarfile.ReadError as exc:
        if path.stat().st_size == 0:
            return
        raise errors.InvalidParameter(f"invalid build context: {exc}") from None
    except tarfile.TarError as exc:
        raise errors.InvalidParameter(f"invalid build context: {exc}") from None


async def spool_context(chunks: AsyncIterable[bytes], path: Path) -> None:
    """The body, decompressed when it is compressed, to `path`."""
    writer = LayerWriter(path)
    try:
        async for chunk in auto_decompress(chunks):
            writer.write(chunk)
    except DecompressionError as exc:
        raise errors.InvalidParameter(f"invalid build context: {exc}") from None
    finally:
        spooled = writer.close()
    # The docker CLI's `-f` outside the context appends its members to the tar without
    # the last one's padding and without the end blocks; Go's reader takes that, and so
    # do we, by completing the archive.
    if spooled.size % _BLOCK or spooled.size < 2 * _BLOCK:
        with path.open("ab") as f:
            f.write(bytes(-spooled.size % _BLOCK + 2 * _BLOCK))


def unpack(tar_path: Path, root: Path) -> BuildContext:
    """The checked tar unpacked into `root` (made here, 0700). Runs in a worker thread."""
    check_members(tar_path)
    root.mkdir(mode=0o700)
    root_fd = os.open(root, scope.DIR_FLAGS)
    context = BuildContext(root, root_fd)
    try:
        with tar_path.open("rb") as source:
            extract(root_fd, "/", source, ExtractOptions())
    except ArchiveError as exc:
        context.close()
        raise errors.InvalidParameter(f"invalid build context: {exc}") from None
    except BaseException:
        context.close()
        raise
    return context


def dockerignore_spec(text: str) -> pathspec.PathSpec[Any] | None:
    """Docker's patterns, each anchored at the context root."""
    patterns: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        body = line[1:].strip() if negate else line
        body = posixpath.normpath(body).lstrip("/")
        if body in ("", "."):
            continue
        patterns.append(("!" if negate else "") + "/" + body)
    if not patterns:
        return None
    return pathspec.PathSpec.from_lines("gitignore", patterns)


def apply_dockerignore(context: BuildContext) -> None:
    """Deletes what `.dockerignore` excludes, the Dockerfile and `.dockerignore` too when
    they are (both were read before), as dockerd removes them."""
    text = context.read(".dockerignore")
    if text is None:
        return
    spec = dockerignore_spec(text.decode(errors="replace"))
    if spec is None:
        return
    for directory, dirs, files in os.walk(context.root, topdown=False):
        rel_dir = os.path.relpath(directory, context.root)
        rel_dir = "" if rel_dir == "." else rel_dir
        for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
            rel = posixpath.join(rel_dir, name)
            if spec.match_file(rel):
                os.unlink(os.path.join(directory, name))
        for name in dirs:
            full = os.path.join(directory, name)
            rel = posixpath.join(rel_dir, name)
            if not os.path.islink(full) and spec.match_file(rel + "/") and not os.listdir(full):
                os.rmdir(full)
