"""The streaming tar reader and the decompressors underneath the archive reader."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
from collections.abc import AsyncIterator

import pytest

from daemon.images.compression import (
    DecompressionError,
    auto_decompress,
    decompress,
    detect,
    uncompressed_digest,
)
from daemon.tario import MemberType, TarFormatError, TarReader
from libcontainerd.digests import sha256_digest
from tests.support.imagefactory import chunked, make_layer


async def members(data: bytes, size: int = 333) -> list[tuple[str, MemberType, str, bytes]]:
    reader = TarReader(chunked(data, size))
    found = []
    async for member in reader.members():
        content = b"".join([chunk async for chunk in reader.chunks()])
        found.append((member.name, member.type, member.linkname, content))
    return found


def build(fmt: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, data in (("short", b"abc"), ("long/" + "n" * 150, b"x" * 1500), ("empty", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("l" * 120)
        link.type, link.linkname = tarfile.SYMTYPE, "t" * 130
        tar.addfile(link)
        folder = tarfile.TarInfo("dir")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        fifo = tarfile.TarInfo("fifo")
        fifo.type = tarfile.FIFOTYPE
        tar.addfile(fifo)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
async def test_reads_every_format(fmt: int) -> None:
    if fmt == tarfile.USTAR_FORMAT:
        with pytest.raises(ValueError):
            build(fmt)  # ustar cannot hold these names; the other formats must
        return
    found = await members(build(fmt))
    assert found == [
        ("short", MemberType.FILE, "", b"abc"),
        ("long/" + "n" * 150, MemberType.FILE, "", b"x" * 1500),
        ("empty", MemberType.FILE, "", b""),
        ("l" * 120, MemberType.SYMLINK, "t" * 130, b""),
        ("dir/", MemberType.DIRECTORY, "", b""),
        ("fifo", MemberType.OTHER, "", b""),
    ]


async def test_unread_data_is_skipped_and_chunks_are_bounded() -> None:
    data = build(tarfile.PAX_FORMAT)
    reader = TarReader(chunked(data, 4096))
    names = [member.name async for member in reader.members()]
    assert len(names) == 6
    reader = TarReader(chunked(data, 4096))
    async for member in reader.members():
        if member.size:
            sizes = [len(chunk) async for chunk in reader.chunks(chunk_size=100)]
            assert max(sizes) <= 100 and sum(sizes) == member.size


async def test_corrupt_and_truncated_streams() -> None:
    data = build(tarfile.GNU_FORMAT)
    damaged = bytearray(data)
    damaged[10] ^= 0xFF
    with pytest.raises(TarFormatError, match="checksum"):
        await members(bytes(damaged))
    with pytest.raises(TarFormatError, match="truncated"):
        await members(data[:1200])
    with pytest.raises(TarFormatError, match="in a member header"):
        await members(data[:300])
    assert await members(b"") == []


def test_detect() -> None:
    assert detect(gzip.compress(b"x")) == "gzip"
    assert detect(bz2.compress(b"x")) == "bzip2"
    assert detect(lzma.compress(b"x")) == "xz"
    assert detect(b"\x28\xb5\x2f\xfd....") == "zstd"
    assert detect(b"plain") is None


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


@pytest.mark.parametrize(
    ("compress", "kind"),
    [(gzip.compress, "gzip"), (bz2.compress, "bzip2"), (lzma.compress, "xz")],
)
async def test_decompressors(compress, kind) -> None:  # type: ignore[no-untyped-def]
    data = make_layer(1, size=200_000)
    packed = compress(data)
    assert await collect(decompress(chunked(packed, 1000), kind)) == data
    assert await collect(auto_decompress(chunked(packed, 3))) == data
    with pytest.raises(DecompressionError, match="truncated"):
        await collect(decompress(chunked(packed[: len(packed) // 2]), kind))


async def test_gzip_members_back_to_back_and_bombs_stay_bounded() -> None:
    assert await collect(
        decompress(chunked(gzip.compress(b"a") + gzip.compress(b"b")), "gzip")
    ) == (b"ab")
    bomb = gzip.compress(bytes(50 * 1024 * 1024))
    largest = 0
    async for piece in decompress(chunked(bomb, len(bomb)), "gzip"):
        largest = max(largest, len(piece))
    assert largest <= 1024 * 1024
    with pytest.raises(DecompressionError, match="corrupt gzip"):
        await collect(decompress(chunked(b"\x1f\x8b" + b"\x00" * 100), "gzip"))
    with pytest.raises(DecompressionError, match="not supported"):
        await collect(decompress(chunked(b"\x28\xb5\x2f\xfd"), "zstd"))


async def test_uncompressed_digest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    layer = make_layer(3)
    (tmp_path / "plain").write_bytes(layer)
    (tmp_path / "gz").write_bytes(gzip.compress(layer))
    assert await uncompressed_digest(tmp_path / "plain") == (sha256_digest(layer), len(layer), None)
    assert await uncompressed_digest(tmp_path / "gz") == (sha256_digest(layer), len(layer), "gzip")
