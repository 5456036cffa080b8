"""An uploaded archive laid out in a private directory, with its paths checked.

Member data goes to numbered files, never to paths taken from the archive, so
no member name or link can write outside the spool; names and links live in a
table, and looking a name up follows links inside the archive only. Every file
is hashed while it is written, and a `blobs/<algorithm>/<hex>` member whose
content does not match its name is refused at once.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from daemon.tario import MemberType, TarReader

_BLOB_NAME_RE = re.compile(r"^blobs/(sha256|sha384|sha512)/([a-f0-9]+)$")
_MAX_LINK_HOPS = 40


class SpoolError(ValueError):
    """The archive's layout is unsafe or inconsistent (bad path, escaping link, bad blob)."""


@dataclass(frozen=True)
class SpooledFile:
    name: str  # the member name in the archive, after links were followed
    path: Path  # where its bytes are on disk
    size: int
    digest: str  # `sha256:<hex>`, or the algorithm a blob's name gives


class SpooledTree:
    """The archive's files by name; fill it with `receive`, then use `lookup`."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory
        self._files: dict[str, SpooledFile] = {}
        self._links: dict[str, str] = {}
        self._counter = 0

    @property
    def directory(self) -> Path:
        return self._directory

    async def receive(self, tar: TarReader) -> None:
        async for member in tar.members():
            name = clean_member_name(member.name)
            if not name:
                continue
            if member.type is MemberType.DIRECTORY:
                continue
            if member.type is MemberType.OTHER:
                raise SpoolError(f"unsupported member {member.name!r} in archive (not a file)")
            self._files.pop(name, None)
            self._links.pop(name, None)
            if member.type is MemberType.SYMLINK:
                self._links[name] = _symlink_target(name, member.linkname)
            elif member.type is MemberType.HARDLINK:
                target = self.lookup(_hardlink_target(member.name, member.linkname))
                if target is None:
                    raise SpoolError(
                        f"hard link {member.name!r} points to {member.linkname!r}, "
                        "which is not earlier in the archive"
                    )
                self._files[name] = target
            else:
                self._files[name] = await self._write(name, tar)

    async def _write(self, name: str, tar: TarReader) -> SpooledFile:
        blob = _BLOB_NAME_RE.match(name)
        algorithm = blob.group(1) if blob else "sha256"
        hasher = hashlib.new(algorithm)
        self._counter += 1
        path = self._directory / f"member-{self._counter:06d}"
        size = 0
        with path.open("wb") as out:
            async for chunk in tar.chunks():
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
        digest = f"{algorithm}:{hasher.hexdigest()}"
        if blob and hasher.hexdigest() != blob.group(2):
            raise SpoolError(f"blob {name} has digest {digest}, which does not match its name")
        return SpooledFile(name=name, path=path, size=size, digest=digest)

    def lookup(self, name: str) -> SpooledFile | None:
        """The file a name refers to after links are followed, or None when absent."""
        parts = [p for p in clean_member_name(name).split("/") if p]
        hops = 0
        restart = True
        while restart:
            restart = False
            for i in range(len(parts)):
                prefix = "/".join(parts[: i + 1])
                link = self._links.get(prefix)
                if link is None:
                    continue
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    raise SpoolError(f"too many levels of links resolving {name!r}")
                parts = [p for p in link.split("/") if p] + parts[i + 1 :]
                restart = True
                break
        return self._files.get("/".join(parts))

    def names(self) -> list[str]:
        return sorted({*self._files, *self._links})

    def read_bytes(self, name: str, limit: int) -> bytes | None:
        """A small file's content (JSON metadata); None when absent."""
        found = self.lookup(name)
        if found is None:
            return None
        if found.size > limit:
            raise SpoolError(f"{name} is too large ({found.size} bytes)")
        return found.path.read_bytes()

    def add_file(self, data: bytes, digest: str) -> SpooledFile:
        """Puts a file that the import made itself (a built manifest) beside the others."""
        self._counter += 1
        path = self._directory / f"built-{self._counter:06d}"
        path.write_bytes(data)
        return SpooledFile(name=path.name, path=path, size=len(data), digest=digest)


def clean_member_name(name: str) -> str:
    """The member name relative to the archive root; refuses absolute and `..` paths."""
    if "\x00" in name:
        raise SpoolError(f"invalid member name {name!r} in archive")
    if name.startswith("/"):
        raise SpoolError(f"invalid member {name!r} in archive: absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SpoolError(f"invalid member {name!r} in archive: path contains '..'")
    return "/".join(parts)


def _symlink_target(name: str, target: str) -> str:
    """The link's target as a name from the archive root; refuses targets outside it."""
    if target.startswith("/"):
        raise SpoolError(f"link {name!r} -> {target!r} escapes the archive: absolute target")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise SpoolError(f"link {name!r} -> {target!r} escapes the archive")
    return "" if resolved == "." else resolved


def _hardlink_target(name: str, target: str) -> str:
    try:
        return clean_member_name(target)
    except SpoolError:
        raise SpoolError(f"link {name!r} -> {target!r} escapes the archive") from None
