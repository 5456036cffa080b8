"""The local content store: blobs by digest under `<root>/blobs/sha256/`, written through
resumable ingests under `<root>/ingest/` (one file per ref), labels beside each blob."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConflictError, InvalidArgumentError, NotFoundError
from ..types import ContentInfo, Opener, Progress
from .files import read_json, write_json

_READ_CHUNK = 1024 * 1024


def _hex(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
        raise InvalidArgumentError(f"invalid digest {digest!r}")
    return value


class LocalContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs" / "sha256"
        self._labels = root / "labels"
        self._ingest = root / "ingest"
        for directory in (self._blobs, self._labels, self._ingest):
            directory.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        """The blob's file (which may not exist)."""
        return self._blobs / _hex(digest)

    def _existing(self, digest: str) -> Path:
        path = self.path(digest)
        if not path.exists():
            raise NotFoundError(f"content digest {digest}: not found")
        return path

    async def info(self, digest: str) -> ContentInfo:
        stat = self._existing(digest).stat()
        labels = self._read_labels(digest)
        when = datetime.fromtimestamp(stat.st_mtime, UTC)
        return ContentInfo(digest, stat.st_size, labels, when, when)

    def _read_labels(self, digest: str) -> dict[str, str]:
        try:
            return dict(read_json(self._labels / _hex(digest)))
        except FileNotFoundError:
            return {}

    async def read(self, digest: str, offset: int = 0, size: int = 0) -> AsyncIterator[bytes]:
        path = self._existing(digest)
        with await asyncio.to_thread(open, path, "rb") as f:
            f.seek(offset)
            left = size or -1
            while left:
                chunk = f.read(_READ_CHUNK if left < 0 else min(left, _READ_CHUNK))
                if not chunk:
                    return
                if left > 0:
                    left -= len(chunk)
                yield chunk

    async def read_blob(self, digest: str, limit: int) -> bytes:
        path = self._existing(digest)
        if path.stat().st_size > limit:
            raise ValueError(f"content {digest} is larger than {limit} bytes")
        return path.read_bytes()

    async def write(
        self,
        ref: str,
        expected: str,
        total: int,
        source: Opener,
        *,
        labels: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> bool:
        """As containerd's: resumes the ingest `ref`, checks size and digest at commit (a
        wrong one is discarded: ConflictError); False when the blob was there already."""
        target = self.path(expected)
        if target.exists():
            return False
        ingest = self._ingest / hashlib.sha256(ref.encode()).hexdigest()
        offset = ingest.stat().st_size if ingest.exists() else 0
        if offset > total:
            offset = 0
        if progress is not None:
            progress(offset)
        hasher = hashlib.sha256()
        with await asyncio.to_thread(open, ingest, "r+b" if offset else "wb") as f:
            done = 0
            while done < offset and (chunk := f.read(min(_READ_CHUNK, offset - done))):
                hasher.update(chunk)
                done += len(chunk)
            f.seek(offset)
            f.truncate()
            if offset < total:
                async for chunk in source(offset):
                    f.write(chunk)
                    hasher.update(chunk)
                    offset += len(chunk)
                    if progress is not None:
                        progress(offset)
            f.flush()
            os.fsync(f.fileno())
        actual = f"sha256:{hasher.hexdigest()}"
        if offset != total or actual != expected:
            ingest.unlink()
            raise ConflictError(
                f"content ingest {ref}: got {offset} bytes ({actual}), "
                f"expected {total} ({expected})"
            )
        if labels:
            write_json(self._labels / _hex(expected), dict(labels))
        os.rename(ingest, target)
        return True

    async def update_labels(self, digest: str, labels: Mapping[str, str]) -> ContentInfo:
        self._existing(digest)
        current = self._read_labels(digest)
        for key, value in labels.items():
            if value:
                current[key] = value
            else:
                current.pop(key, None)
        write_json(self._labels / _hex(digest), current)
        return await self.info(digest)

    async def delete(self, digest: str) -> None:
        self.remove(digest)

    def remove(self, digest: str) -> None:
        self._existing(digest).unlink()
        with contextlib.suppress(FileNotFoundError):
            (self._labels / _hex(digest)).unlink()

    def labels(self, digest: str) -> dict[str, str]:
        """The blob's labels (none for a blob that is not there)."""
        try:
            return self._read_labels(digest)
        except InvalidArgumentError:
            return {}

    def digests(self) -> list[str]:
        return [f"sha256:{path.name}" for path in self._blobs.iterdir()]

    async def size_on_disk(self) -> int:
        return await asyncio.to_thread(lambda: sum(p.stat().st_size for p in self._blobs.iterdir()))
