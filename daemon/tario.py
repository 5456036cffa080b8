"""Tar I/O: a reader over an async byte stream, and the headers of streamed writing.

The standard library's tarfile wants a blocking file object; an HTTP request
body is an async stream, so members are parsed here block by block and their
data handed out as chunks, never as a whole. ustar, GNU long names and pax
records are understood; that covers what docker, containerd, skopeo and
buildkit write.
"""

from __future__ import annotations

import tarfile
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from enum import Enum

BLOCK = 512
_MAX_META = 1024 * 1024  # a long name or pax header larger than this is not a real one


class TarFormatError(ValueError):
    """The stream is not a well-formed tar archive, or it ends too early."""


class MemberType(Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"  # devices and fifos: nothing an image archive contains


@dataclass(frozen=True)
class TarMember:
    name: str
    type: MemberType
    size: int
    linkname: str
    mode: int
    mtime: int


class _ByteReader:
    """Exact-size reads over a chunk iterator, keeping the leftover of each chunk."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = aiter(chunks)
        self._buffer = bytearray()
        self._eof = False

    async def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    async def read_exact(self, size: int) -> bytes | None:
        """`size` bytes, or None when the stream ends first (what was there is discarded)."""
        while len(self._buffer) < size:
            if not await self._fill():
                return None
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def read_up_to(self, size: int) -> bytes:
        """Between 1 and `size` bytes; empty only at the end of the stream."""
        if not self._buffer and not await self._fill():
            return b""
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def at_end(self) -> bool:
        return not self._buffer and not await self._fill()


class TarReader:
    """Iterate `members()`; read each member's data with `chunks()` before moving on.

    Data left unread is skipped. A stream that stops inside a header or a
    member raises TarFormatError naming the member.
    """

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._reader = _ByteReader(chunks)
        self._remaining = 0
        self._padding = 0
        self._current = ""

    async def members(self) -> AsyncIterator[TarMember]:
        pax_global: dict[str, str] = {}
        pending: dict[str, str] = {}
        while True:
            await self._skip_rest()
            header = await self._reader.read_exact(BLOCK)
            if header is None:
                if await self._reader.at_end():
                    return  # tolerated like Go's reader: no end-of-archive blocks
                raise self._truncated("in a member header")
            if header == bytes(BLOCK):
                return  # end-of-archive marker; whatever follows is padding
            member = _parse_header(header)
            self._current = member.name
            typeflag = header[156:157]
            if typeflag in (b"x", b"g", b"L", b"K"):
                data = await self._read_meta(member.size)
                if typeflag == b"x":
                    pending.update(_parse_pax(data))
                elif typeflag == b"g":
                    pax_global.update(_parse_pax(data))
                else:
                    key = "path" if typeflag == b"L" else "linkpath"
                    pending[key] = data.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")
                continue
            overrides = {**pax_global, **pending}
            pending = {}
            member = _apply_overrides(member, overrides)
            self._current = member.name
            self._remaining = member.size if member.type is MemberType.FILE else 0
            self._padding = (-member.size) % BLOCK if member.type is MemberType.FILE else 0
            if member.type is not MemberType.FILE and member.size:
                # Links and directories carry no data in tar, but skip any that is there.
                self._remaining, self._padding = member.size, (-member.size) % BLOCK
            yield member

    async def chunks(self, chunk_size: int = 1024 * 1024) -> AsyncIterator[bytes]:
        """The current member's data, in pieces of at most `chunk_size` bytes."""
        while self._remaining:
            data = await self._reader.read_up_to(min(chunk_size, self._remaining))
            if not data:
                raise self._truncated(f"in the data of {self._current!r}")
            self._remaining -= len(data)
            yield data

    async def _skip_rest(self) -> None:
        async for _ in self.chunks():
            pass
        if self._padding:
            if await self._reader.read_exact(self._padding) is None:
                raise self._truncated(f"after the data of {self._current!r}")
            self._padding = 0

    async def _read_meta(self, size: int) -> bytes:
        if size > _MAX_META:
            raise TarFormatError(f"tar extended header too large ({size} bytes)")
        data = await self._reader.read_exact(size) if size else b""
        if data is None or (
            size % BLOCK and await self._reader.read_exact(BLOCK - size % BLOCK) is None
        ):
            raise self._truncated("in an extended header")
        return data

    def _truncated(self, where: str) -> TarFormatError:
        return TarFormatError(f"unexpected end of archive {where}: the tar stream is truncated")


def _parse_header(block: bytes) -> TarMember:
    if not _checksum_ok(block):
        raise TarFormatError(
            "invalid tar header checksum: the archive is corrupt or not a tar file"
        )
    name = _cstring(block[0:100])
    magic = block[257:263]
    if magic == b"ustar\x00":
        prefix = _cstring(block[345:500])
        if prefix:
            name = f"{prefix}/{name}"
    typeflag = block[156:157]
    kind = {
        b"0": MemberType.FILE,
        b"\x00": MemberType.FILE,
        b"7": MemberType.FILE,
        b"1": MemberType.HARDLINK,
        b"2": MemberType.SYMLINK,
        b"5": MemberType.DIRECTORY,
    }.get(typeflag, MemberType.OTHER)
    if typeflag in (b"x", b"g", b"L", b"K"):
        kind = MemberType.OTHER
    if kind is MemberType.FILE and typeflag == b"\x00" and name.endswith("/"):
        kind = MemberType.DIRECTORY  # pre-POSIX archives mark directories by the slash
    return TarMember(
        name=name,
        type=kind,
        size=_number(block[124:136]),
        linkname=_cstring(block[157:257]),
        mode=_number(block[100:108]),
        mtime=_number(block[136:148]),
    )


def _apply_overrides(member: TarMember, pax: dict[str, str]) -> TarMember:
    if not pax:
        return member
    size = member.size
    if "size" in pax:
        # Plain ASCII decimal that fits in 63 bits, as Go's reader takes it; Python's int()
        # would also take "-5", " 7", "1_000" and other scripts' digits.
        text = pax["size"]
        if not (text.isascii() and text.isdigit() and len(text) <= 19):
            raise TarFormatError(f"invalid pax size {text!r}")
        size = int(text)
        if size >= 1 << 63:
            raise TarFormatError(f"invalid pax size {text!r}")
    return TarMember(
        name=pax.get("path", member.name),
        type=member.type,
        size=size,
        linkname=pax.get("linkpath", member.linkname),
        mode=member.mode,
        mtime=member.mtime,
    )


def _parse_pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarFormatError("invalid pax extended header") from None
        if length <= 0 or pos + length > len(data):
            raise TarFormatError("invalid pax extended header")
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def _checksum_ok(block: bytes) -> bool:
    stored = block[148:156]
    try:
        expected = _number(stored)
    except TarFormatError:
        return False
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + b" " * 8 + block[156:])
    return expected in (unsigned, signed)


def _number(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:
        # base-256 (GNU) for values that do not fit in octal digits
        value = int.from_bytes(field, "big", signed=False) & ~(0x80 << (8 * (len(field) - 1)))
        if field[0] & 0x40:
            raise TarFormatError("negative number in tar header")
        return value
    text = field.split(b"\x00", 1)[0].strip(b" \x00")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarFormatError("invalid number in tar header: the archive is corrupt") from None


def _cstring(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


def header(
    name: str,
    kind: bytes,
    *,
    mode: int,
    mtime: int,
    size: int = 0,
    linkname: str = "",
    owner: tuple[int, int] = (0, 0),
    device: tuple[int, int] = (0, 0),
) -> bytes:
    """One member's header, pax where ustar falls short; times in whole seconds, as dockerd."""
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.size, info.linkname = kind, mode, mtime, size, linkname
    info.uid, info.gid = owner
    info.devmajor, info.devminor = device
    # surrogateescape: names read from a filesystem need not be UTF-8.
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def file_header(name: str, size: int, mtime: int, mode: int = 0o644) -> bytes:
    return header(name, tarfile.REGTYPE, mode=mode, mtime=mtime, size=size)


def directory_header(name: str, mtime: int, mode: int = 0o755) -> bytes:
    return header(name.rstrip("/") + "/", tarfile.DIRTYPE, mode=mode, mtime=mtime)


def symlink_header(name: str, target: str, mtime: int) -> bytes:
    return header(name, tarfile.SYMTYPE, mode=0o777, mtime=mtime, linkname=target)


def padding(size: int) -> bytes:
    return bytes((-size) % BLOCK)


END_OF_ARCHIVE = bytes(2 * BLOCK)
