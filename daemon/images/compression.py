"""Streaming decompression and digests of files and byte streams.

Everything here works chunk by chunk with bounded output per step, so a
multi-gigabyte layer (or a decompression bomb) never sits in memory, and it
hands control back to the event loop between chunks.
"""

from __future__ import annotations

import asyncio
import bz2
import hashlib
import lzma
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from pathlib import Path
from typing import Literal, Protocol

Kind = Literal["gzip", "bzip2", "xz", "zstd"]

CHUNK_SIZE = 1024 * 1024
_MAX_PIECE = 1024 * 1024

_MAGIC: tuple[tuple[bytes, Kind], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
# Enough leading bytes to tell every kind above apart.
MAGIC_LENGTH = 6


class DecompressionError(ValueError):
    """Compressed data is corrupt, truncated or of a kind that cannot be read here."""


class _Engine(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def finish(self) -> None: ...


def detect(prefix: bytes) -> Kind | None:
    """The compression that `prefix` (the first bytes of a stream) announces, if any."""
    for magic, kind in _MAGIC:
        if prefix.startswith(magic):
            return kind
    return None


class _Gzip:
    """gzip, including several members back to back (as `cat a.gz b.gz` makes)."""

    def __init__(self) -> None:
        self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._fed = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._obj.eof:
                if not data.strip(b"\x00"):
                    return  # zero padding after the last member is harmless
                self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._fed = True
            try:
                piece = self._obj.decompress(data, _MAX_PIECE)
                if piece:
                    yield piece
                while self._obj.unconsumed_tail and not self._obj.eof:
                    piece = self._obj.decompress(self._obj.unconsumed_tail, _MAX_PIECE)
                    if piece:
                        yield piece
            except zlib.error as exc:
                raise DecompressionError(f"corrupt gzip data: {exc}") from None
            data = self._obj.unused_data if self._obj.eof else b""

    def finish(self) -> None:
        if self._fed and not self._obj.eof:
            raise DecompressionError("unexpected end of gzip data: the stream is truncated")


class _Lzma:
    """bz2 and xz share the incremental API of the standard library."""

    def __init__(self, kind: Kind) -> None:
        self._kind = kind
        self._obj: bz2.BZ2Decompressor | lzma.LZMADecompressor = (
            bz2.BZ2Decompressor() if kind == "bzip2" else lzma.LZMADecompressor()
        )

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            while data or (not self._obj.eof and not self._obj.needs_input):
                if self._obj.eof:
                    extra = self._obj.unused_data + data
                    if not extra.strip(b"\x00"):
                        return
                    self._obj = (
                        bz2.BZ2Decompressor() if self._kind == "bzip2" else lzma.LZMADecompressor()
                    )
                    data = extra
                piece = self._obj.decompress(data, _MAX_PIECE)
                data = b""
                if piece:
                    yield piece
        except (OSError, lzma.LZMAError, EOFError) as exc:
            raise DecompressionError(f"corrupt {self._kind} data: {exc}") from None

    def finish(self) -> None:
        if not self._obj.eof:
            raise DecompressionError(
                f"unexpected end of {self._kind} data: the stream is truncated"
            )


def _engine(kind: Kind) -> _Engine:
    if kind == "gzip":
        return _Gzip()
    if kind in ("bzip2", "xz"):
        return _Lzma(kind)
    raise DecompressionError(f"{kind} compression is not supported")


async def decompress(chunks: AsyncIterable[bytes], kind: Kind) -> AsyncIterator[bytes]:
    """The decompressed bytes of a `kind`-compressed stream; raises at a corrupt or cut end."""
    engine = _engine(kind)
    async for chunk in chunks:
        for piece in engine.feed(chunk):
            yield piece
            await asyncio.sleep(0)
    engine.finish()


async def auto_decompress(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The stream itself, or its decompressed content when it starts with a known magic."""
    iterator = aiter(chunks)
    head = b""
    async for chunk in iterator:
        head += chunk
        if len(head) >= MAGIC_LENGTH:
            break
    kind = detect(head)

    async def rest() -> AsyncIterator[bytes]:
        if head:
            yield head
        async for chunk in iterator:
            yield chunk

    if kind is None:
        async for chunk in rest():
            yield chunk
    else:
        async for piece in decompress(rest(), kind):
            yield piece


async def file_chunks(
    path: Path, offset: int = 0, chunk_size: int = CHUNK_SIZE
) -> AsyncIterator[bytes]:
    """A local file's bytes from `offset`, yielding to the loop between chunks."""
    with path.open("rb") as f:
        f.seek(offset)
        while chunk := f.read(chunk_size):
            yield chunk
            await asyncio.sleep(0)


def detect_file(path: Path) -> Kind | None:
    with path.open("rb") as f:
        return detect(f.read(MAGIC_LENGTH))


async def digest_chunks(chunks: AsyncIterable[bytes], algorithm: str = "sha256") -> tuple[str, int]:
    """`(digest, size)` of a byte stream."""
    hasher = hashlib.new(algorithm)
    size = 0
    async for chunk in chunks:
        hasher.update(chunk)
        size += len(chunk)
    return f"{algorithm}:{hasher.hexdigest()}", size


async def uncompressed_digest(path: Path) -> tuple[str, int, Kind | None]:
    """`(diff_id, uncompressed size, compression)` of a layer file, compressed or not."""
    kind = detect_file(path)
    chunks = file_chunks(path)
    source = chunks if kind is None else decompress(chunks, kind)
    digest, size = await digest_chunks(source)
    return digest, size, kind
