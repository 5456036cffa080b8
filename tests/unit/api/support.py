"""A real API server on a unix socket, and a raw HTTP client for it.

The client writes bytes by hand so that tests see exactly what goes over the
wire, as the docker CLI would.
"""

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from multidict import CIMultiDict

from api.dispatch import RequestObserver
from api.limits import ServerLimits
from api.server import ApiServer, make_app, serve


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: CIMultiDict[str]
    body: bytes
    head: bytes = b""
    header_names: list[str] = field(default_factory=list)


def split_head(data: bytes) -> tuple[bytes, bytes]:
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, f"no end of headers in {data!r}"
    return head + sep, rest


def parse_head(head: bytes) -> tuple[int, str, CIMultiDict[str], list[str]]:
    lines = head.decode("latin-1").split("\r\n")
    _, status, reason = lines[0].split(" ", 2)
    headers: CIMultiDict[str] = CIMultiDict()
    names: list[str] = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.add(name, value.strip())
            names.append(name)
    return int(status), reason, headers, names


def dechunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return bytes(out)
        out += data[:size]
        data = data[size + 2 :]


def parse_response(data: bytes) -> RawResponse:
    head, rest = split_head(data)
    status, reason, headers, names = parse_head(head)
    if headers.get("Transfer-Encoding") == "chunked":
        body = dechunk(rest)
    elif "Content-Length" in headers:
        body = rest[: int(headers["Content-Length"])]
    else:
        body = rest
    return RawResponse(status, reason, headers, body, head, names)


async def read_response(reader: asyncio.StreamReader, method: str = "GET") -> RawResponse:
    """Read one reply: its head, then the body its headers announce."""
    head = await reader.readuntil(b"\r\n\r\n")
    status, reason, headers, names = parse_head(head)
    if method == "HEAD" or status in (204, 304):
        body = b""
    elif headers.get("Transfer-Encoding") == "chunked":
        raw = bytearray()
        while not raw.endswith(b"0\r\n\r\n") or not _chunked_complete(bytes(raw)):
            chunk = await reader.read(65536)
            if not chunk:
                break
            raw += chunk
        body = dechunk(bytes(raw))
    elif "Content-Length" in headers:
        body = await reader.readexactly(int(headers["Content-Length"]))
    else:
        body = await reader.read()
    return RawResponse(status, reason, headers, body, head, names)


def _chunked_complete(data: bytes) -> bool:
    try:
        while True:
            size_line, sep, data = data.partition(b"\r\n")
            if not sep:
                return False
            size = int(size_line, 16)
            if size == 0:
                return data.startswith(b"\r\n")
            data = data[size + 2 :]
    except ValueError:
        return False


def request_bytes(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: docker"]
    all_headers = {"Content-Length": str(len(body))} if body or method == "POST" else {}
    all_headers.update(headers or {})
    lines += [f"{k}: {v}" for k, v in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Served:
    app: web.Application
    server: ApiServer
    socket: str

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_unix_connection(self.socket)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        """A connection of the test's own, closed when the block ends."""
        reader, writer = await self.connect()
        try:
            yield reader, writer
        finally:
            await _closed(writer)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> RawResponse:
        """One request on its own connection."""
        reader, writer = await self.connect()
        try:
            writer.write(request_bytes(method, path, body, headers))
            return await asyncio.wait_for(read_response(reader, method), 10)
        finally:
            await _closed(writer)


async def _closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve_app(
    setup: Callable[[web.Application], None] | None = None,
    limits: ServerLimits | None = None,
    observe: RequestObserver | None = None,
) -> AsyncIterator[Served]:
    """make_app(limits=limits, observe=observe) plus ``setup``'s routes, listening on a
    fresh unix socket."""
    app = make_app(limits=limits, observe=observe)
    if setup is not None:
        setup(app)
    # Short path: unix socket paths are limited to about 100 bytes.
    directory = Path(tempfile.mkdtemp(prefix="mapi", dir="/tmp"))
    sock = str(directory / "api.sock")
    server = await serve(app, [f"unix://{sock}"])
    try:
        yield Served(app, server, sock)
    finally:
        await server.close()
        shutil.rmtree(directory, ignore_errors=True)
