"""Hijacking a connection for attach and exec start.

After the handler has checked everything that can fail (errors must still go
out as ordinary JSON replies: the CLI insists on a 101 and discards any other
reply's body), ``await hijack(request)`` writes the 101 (or a 200 when the
request carried no Upgrade header) by hand and turns the connection into a
plain byte pipe::

    conn = await hijack(request)
    async with conn:                   # closes the connection at the end
        data = await conn.read()       # raw stdin; b"" at EOF
        await conn.write(frame)        # raises ClientGone once the client left
    return conn.response               # writes nothing; aiohttp drops the connection

How: aiohttp's own protocol cannot serve a half-closed connection. Its
``eof_received`` returns None, so asyncio closes the transport when the client
shuts down its write side, yet the CLI does exactly that at the end of stdin
and still expects the output. So the transport is handed to a protocol of our
own with ``transport.set_protocol``, whose ``eof_received`` keeps the write side
open. Before that, the request body is read to its end, and the protocol is
registered with aiohttp's ``set_parser`` to receive the bytes that arrived after
the request (stdin sent in the same packet as the headers). When the
connection is lost, the loss is passed on to aiohttp's protocol so that its
bookkeeping ends as for any other connection.

Disconnect: ``read()`` returns b"" and ``closed`` becomes true, ``write()``
raises ``ClientGone``; ``wait_closed()`` returns once the connection is gone.
A half-close only makes ``read()`` return b"" (``at_eof``), writes go on. A
client that hangs up altogether also sends just an EOF; on a unix socket it is
told apart by polling for POLLHUP after the EOF (every
``HANGUP_PROBE_INTERVAL`` s), over TCP only by the next write failing.

Known limits. Over TLS the half-close is kept too: ``api.tls`` terminates TLS itself and
hands the app a socketpair, so this code sees a unix socket (asyncio's SSL
layer would end the connection at the client's close_notify). A client that
half-closes before it has read the 101 loses the connection, as aiohttp still
owns it then; real clients read the 101 before they copy stdin. Without an
Upgrade header, stdin that arrives before the reply is parsed as HTTP by
aiohttp and lost (the CLI always sends Upgrade).
"""

import asyncio
import contextlib
import select
import socket
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from api.body import read_body
from api.streams import RESPONSE_STARTED, AlreadySentResponse, ClientGone, track
from api.versioning import COMMON_HEADERS, ApiVersion
from wire.api_versions import HIJACK_MULTIPLEXED_TYPE

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"

# Stop reading from the socket while this much stdin waits unread.
_READ_HIGH_WATER = 256 * 1024
_READ_LOW_WATER = 64 * 1024
_DEFAULT_CLOSE_TIMEOUT = 10.0
# After a client's EOF, how often to look whether it hung up altogether.
HANGUP_PROBE_INTERVAL = 0.5


def stream_content_type(version: ApiVersion, tty: bool) -> str:
    """The Content-Type of a hijacked reply: always raw before API 1.42."""
    if tty or not HIJACK_MULTIPLEXED_TYPE.applies(version):
        return RAW_STREAM
    return MULTIPLEXED_STREAM


class _PipeProtocol(asyncio.Protocol):
    """Owns the transport after the hijack; buffers stdin, tracks EOF and loss."""

    def __init__(
        self,
        transport: asyncio.Transport,
        previous: asyncio.BaseProtocol,
        writing_paused: bool,
    ) -> None:
        self.transport = transport
        self._previous: asyncio.BaseProtocol | None = previous
        self._buffer = bytearray()
        self._reading_paused = False
        self._writing_paused = writing_paused
        self.eof = False
        self.lost = asyncio.Event()
        # Called once, at the loss (HijackedConnection.on_close).
        self.lost_callbacks: list[Callable[[], None]] = []
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None

    # aiohttp's payload-parser interface, used once to hand over early bytes.

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.data_received(data)
        return False, b""

    def feed_eof(self) -> None:
        pass

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        if not data:
            return
        self._buffer += data
        self._wake_reader()
        if not self._reading_paused and len(self._buffer) >= _READ_HIGH_WATER:
            self._reading_paused = True
            with contextlib.suppress(RuntimeError, NotImplementedError):
                self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        self._schedule_hangup_probe()
        # True keeps the transport open: the client half-closed, it still reads.
        return True

    def _schedule_hangup_probe(self) -> None:
        # A half-close and a full close both arrive as EOF. Over TCP they stay
        # alike until a write fails; a unix socket whose peer is gone reports
        # POLLHUP, so a client that left is noticed even while there is
        # nothing to write to it.
        sock = self.transport.get_extra_info("socket")
        if sock is None or sock.family != socket.AF_UNIX or not hasattr(select, "poll"):
            return
        loop = asyncio.get_running_loop()
        fd = sock.fileno()

        def probe() -> None:
            if self.lost.is_set() or self.transport.is_closing():
                return
            poller = select.poll()
            poller.register(fd, select.POLLHUP)
            if any(events & select.POLLHUP for _, events in poller.poll(0)):
                self.transport.abort()
            else:
                loop.call_later(HANGUP_PROBE_INTERVAL, probe)

        loop.call_later(HANGUP_PROBE_INTERVAL, probe)

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.lost.set()
        self._wake_reader()
        callbacks, self.lost_callbacks = self.lost_callbacks, []
        for callback in callbacks:
            callback()
        # Wakes a blocked writer, which then sees ``lost``.
        self.resume_writing()
        previous, self._previous = self._previous, None
        if previous is not None:
            previous.connection_lost(exc)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # Used by HijackedConnection.

    async def read(self, n: int) -> bytes:
        while not self._buffer and not self.eof:
            self._data_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._data_waiter
            finally:
                self._data_waiter = None
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        if self._reading_paused and len(self._buffer) <= _READ_LOW_WATER and not self.eof:
            self._reading_paused = False
            with contextlib.suppress(RuntimeError, NotImplementedError):
                self.transport.resume_reading()
        return data

    async def drain(self) -> None:
        if self._writing_paused and not self.lost.is_set():
            if self._drain_waiter is None:
                self._drain_waiter = asyncio.get_running_loop().create_future()
            # Shielded: writers may share the waiter, one being cancelled must
            # not cancel it for the others.
            await asyncio.shield(self._drain_waiter)
        if self.lost.is_set():
            raise ClientGone("client went away")

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def take_over(self, aiohttp_protocol: Any) -> None:
        """Become the transport's protocol, with the bytes aiohttp kept aside."""
        # set_parser hands over the bytes that followed the request; from then
        # on aiohttp's protocol feeds nothing to its HTTP parser and forwards
        # the connection loss to us.
        aiohttp_protocol.set_parser(self)
        self.transport.set_protocol(self)
        if not self._reading_paused:
            # aiohttp may have paused reading while early stdin piled up.
            is_reading = getattr(self.transport, "is_reading", None)
            if is_reading is not None and not is_reading():
                with contextlib.suppress(RuntimeError, NotImplementedError):
                    self.transport.resume_reading()

    def _wake_reader(self) -> None:
        waiter = self._data_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class HijackedConnection:
    """The raw byte pipe left after a hijack."""

    def __init__(self, protocol: _PipeProtocol, status: int, reason: str) -> None:
        self._protocol = protocol
        self._response = AlreadySentResponse(status, reason)

    @property
    def response(self) -> web.StreamResponse:
        """What the handler must return; it writes nothing more."""
        return self._response

    @property
    def at_eof(self) -> bool:
        """The client half-closed or left: ``read()`` has nothing more to give."""
        return self._protocol.eof and not self._protocol.buffered

    @property
    def closed(self) -> bool:
        """The connection is gone (client left or ``close()`` was called)."""
        return self._protocol.lost.is_set()

    async def wait_closed(self) -> None:
        await self._protocol.lost.wait()

    def on_close(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` once the connection is gone (soon, if it is already); returns
        what unregisters it. No task per watcher, unlike a wait_closed() of its own."""
        if self.closed:
            return asyncio.get_running_loop().call_soon(callback).cancel
        callbacks = self._protocol.lost_callbacks
        callbacks.append(callback)

        def unregister() -> None:
            with contextlib.suppress(ValueError):
                callbacks.remove(callback)

        return unregister

    async def read(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes of client input; b"" at EOF, half-close included."""
        return await self._protocol.read(n)

    async def write(self, data: bytes) -> None:
        """Send bytes to the client, waiting while its socket buffer is full."""
        protocol = self._protocol
        if protocol.lost.is_set() or protocol.transport.is_closing():
            raise ClientGone("client went away")
        if data:
            protocol.transport.write(data)
        await protocol.drain()

    async def close(self, timeout: float = _DEFAULT_CLOSE_TIMEOUT) -> None:
        """Flush what was written, then close; abort if the client does not read."""
        transport = self._protocol.transport
        transport.close()
        try:
            await asyncio.wait_for(self._protocol.lost.wait(), timeout)
        except TimeoutError:
            transport.abort()
            await self._protocol.lost.wait()

    def abort(self) -> None:
        """Drop the connection at once, unsent bytes included."""
        self._protocol.transport.abort()

    async def __aenter__(self) -> "HijackedConnection":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def hijack(request: web.Request, *, content_type: str = RAW_STREAM) -> HijackedConnection:
    """Answer ``request`` with 101 (or 200) and take its connection over."""
    # The body must be consumed first: aiohttp switches to "upgraded" mode, and
    # keeps later bytes aside for us, only once the body is complete.
    await read_body(request)
    transport = request.transport
    aiohttp_protocol = request.protocol
    if transport is None or transport.is_closing():
        raise ClientGone("client went away before the hijack")
    protocol = _PipeProtocol(transport, aiohttp_protocol, aiohttp_protocol.writing_paused)
    protocol.take_over(aiohttp_protocol)

    upgrade = "Upgrade" in request.headers
    status, reason = (101, "UPGRADED") if upgrade else (200, "OK")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}"]
    if upgrade:
        lines += ["Connection: Upgrade", "Upgrade: tcp"]
    lines += [f"{name}: {value}" for name, value in COMMON_HEADERS.items()]
    transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    request[RESPONSE_STARTED] = True

    conn = HijackedConnection(protocol, status, reason)
    track(request, conn)
    return conn
