"""Unary gRPC calls, and the event stream, on a bare HTTP/2 connection of the loop's own,
beside grpcio's channel.

A unary call through grpcio costs the client ~90 us of CPU (issue 13;
bench/floor_transport.py): the C-core starts its batch on the loop's thread, completes it
on grpc.aio's poller thread, which wakes the loop through a socketpair. The same call as
a few HTTP/2 frames written by the loop's unix-socket transport, and read back where the
answer lands, costs ~25 us, on one thread. `H2Unary` does that for the calls that fit it;
the channel gives it every unary call without a timeout or caller metadata
(channel.py), and any call it cannot take (`Unsuitable`) goes through grpcio as before.
The event subscription (Events.Subscribe, a server stream: ~3 events a lifecycle, each a
read that cost about a unary call through grpcio) goes here too (`open_stream`): its
DATA frames are cut into gRPC's length-prefixed messages as they land (`Feed`).

What it does, and what it leaves to grpcio:
- one connection at a time, made at the first call; a call while there is none tries to
  connect (a unix socket's connect: tens of microseconds, so no backoff between tries,
  and none outlasting containerd's return: a call may come while this would still be
  waiting one out), and fails at once with UNAVAILABLE if
  containerd is not there; a GOAWAY or a lost connection fails the calls it took with
  UNAVAILABLE, the next call opens a new one; the event stream ends the same way, as
  grpcio's does, and the client's monitor subscribes again (monitor.py);
- windows opened wide at once (stream and connection, RECEIVE_WINDOW), so containerd
  never waits to send an answer, and each topped up once half of it was received, so
  a stream that lives as long as the client (the events) never runs it dry; a request
  larger than a new stream's send window, or beyond containerd's stream limit, is
  `Unsuitable`; a unary call that only the connection's window has no room for yet (a
  burst of calls) waits for containerd's WINDOW_UPDATE, as grpcio's flow control would
  (it went to grpcio before, whose own connection then stayed open beside this one);
- request headers are HPACK literals made once per route and namespace (no dynamic
  table on our side); answers are read by `hpack`, and a block of only indexed fields
  (what Go's encoder sends once its table holds the fields) from a memo, cleared at any
  other block, which may move the table;
- a caller that leaves before the answer (cancelled, its coroutine closed), or a reader
  that leaves a stream before its end, resets the stream (RST_STREAM CANCEL):
  containerd ends the call; `close` closes the connection,
  which ends every call on it in containerd, and its callers get CancelledError, as
  grpcio's path gives them;
- errors are grpc.aio's AioRpcError with containerd's status and message, as grpcio
  raises them (errors.py reads them the same way).
"""

from __future__ import annotations

import asyncio
import collections
import struct
import urllib.parse
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

import grpc
import grpc.aio
import hpack

if TYPE_CHECKING:
    from .channel import CallRecorder

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# Frame types, flags, settings and error codes (RFC 9113).
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 3, 4, 6, 7, 8, 9,
)  # fmt: skip
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 3, 4, 5
CANCEL, REFUSED_STREAM = 0x8, 0x7
WINDOW = 2**31 - 1
DEFAULT_WINDOW = 65535
LAST_STREAM = 2**31 - 1
# The receive window we announce, per stream and for the connection; each is topped up
# once half of it was received. (A module setting so that a test can make it small.)
RECEIVE_WINDOW = WINDOW

_STATUS = {code.value[0]: code for code in grpc.StatusCode}
# gRPC's mapping of an HTTP status that is not 200 (an answer from something else).
_HTTP_STATUS = {
    b"400": grpc.StatusCode.INTERNAL,
    b"401": grpc.StatusCode.UNAUTHENTICATED,
    b"403": grpc.StatusCode.PERMISSION_DENIED,
    b"404": grpc.StatusCode.UNIMPLEMENTED,
    b"429": grpc.StatusCode.UNAVAILABLE,
    b"502": grpc.StatusCode.UNAVAILABLE,
    b"503": grpc.StatusCode.UNAVAILABLE,
    b"504": grpc.StatusCode.UNAVAILABLE,
}

Headers = list[tuple[bytes, bytes]]
Answer = tuple[bytes, Headers]


class Unsuitable(Exception):
    """This call is not for the bare connection (too large for its windows, or no stream
    free): the caller makes it through grpcio."""


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big") + payload
    )


def _literal(name: bytes, value: bytes) -> bytes:
    """An HPACK literal field without indexing, a new name, no Huffman."""
    return b"\x00" + _length(name) + name + _length(value) + value


def _length(data: bytes) -> bytes:
    """An HPACK string's length (7-bit prefix, H bit 0)."""
    n = len(data)
    if n < 127:
        return bytes((n,))
    out = bytearray((127,))
    n -= 127
    while n >= 128:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def request_headers(route: str, headers: tuple[tuple[str, str], ...]) -> bytes:
    """The HPACK block of a call of `route` with `headers` (POST, http from the static
    table; the rest literals)."""
    fields = [
        (b":path", route.encode()),
        (b":authority", b"localhost"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
        *((k.encode(), v.encode()) for k, v in headers),
    ]
    return b"\x83\x86" + b"".join(_literal(k, v) for k, v in fields)


class _Stream:
    """A call's state on the connection; `answer` is done when the call ends."""

    __slots__ = ("answer", "data", "feed", "headers", "received")

    def __init__(self, answer: asyncio.Future[Answer], feed: Feed | None = None) -> None:
        self.answer = answer
        self.data: list[bytes] = []  # (a unary call's DATA payloads)
        self.headers: Headers = []
        self.received = 0  # DATA bytes since our last WINDOW_UPDATE of the stream
        self.feed = feed  # a server stream's messages, as they come


class Feed:
    """The messages of a server-streaming call as they land: DATA payloads are cut into
    gRPC's length-prefixed messages (one split across frames, or several in one frame),
    which `next` hands out in order; after the last, the call's end (its status)."""

    __slots__ = ("answer", "messages", "partial", "waiter")

    def __init__(self, answer: asyncio.Future[Answer]) -> None:
        self.answer = answer
        self.messages: collections.deque[bytes] = collections.deque()
        self.partial = b""
        self.waiter: asyncio.Future[None] | None = None
        answer.add_done_callback(self._ended)

    def feed(self, payload: bytes) -> None:
        data = self.partial + payload if self.partial else payload
        pos, end = 0, len(data)
        while end - pos >= 5:
            length = int.from_bytes(data[pos + 1 : pos + 5], "big")
            if end - pos < 5 + length:
                break
            if data[pos]:  # (compressed: never asked for, so never expected)
                if not self.answer.done():
                    self.answer.set_exception(
                        rpc_error(grpc.StatusCode.INTERNAL, "a compressed message")
                    )
                return
            self.messages.append(data[pos + 5 : pos + 5 + length])
            pos += 5 + length
        self.partial = data[pos:]
        if pos:
            self._wake()

    def _ended(self, _: object) -> None:
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self) -> bytes | None:
        """The next message; None once the call ended well; its AioRpcError if it failed,
        CancelledError if its connection was closed."""
        while not self.messages:
            answer = self.answer
            if answer.done():
                _, headers = answer.result()
                error = status_error(headers)
                if error is None and self.partial:
                    error = rpc_error(grpc.StatusCode.INTERNAL, "the stream ended in a message")
                if error is not None:
                    raise error
                return None
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.messages.popleft()


class H2Connection(asyncio.Protocol):
    """One HTTP/2 client connection (see the module doc); made by `H2Unary`."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._streams: dict[int, _Stream] = {}
        self._next_stream = 1
        self._decoder = hpack.Decoder()
        self._indexed: dict[bytes, Headers] = {}
        self._continued: tuple[int, int, list[bytes]] | None = None  # HEADERS + CONTINUATION
        self._send_window = DEFAULT_WINDOW  # the connection's, as containerd allows
        self._stream_window = DEFAULT_WINDOW  # a new stream's, from containerd's SETTINGS
        self._max_frame = 16384
        self._max_streams = LAST_STREAM
        self._received = 0  # DATA bytes since our last connection WINDOW_UPDATE
        self._refill = RECEIVE_WINDOW // 2
        self.usable = True  # no GOAWAY, not lost, stream ids left
        self._window_opened: asyncio.Future[None] | None = None  # see room_later

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # (uvloop's: not a subclass)
        settings = struct.pack(">HIHI", 2, 0, SETTINGS_INITIAL_WINDOW_SIZE, RECEIVE_WINDOW)
        frames = PREFACE + _frame(SETTINGS, 0, 0, settings)  # (2 = 0: no push)
        if RECEIVE_WINDOW > DEFAULT_WINDOW:
            more = struct.pack(">I", RECEIVE_WINDOW - DEFAULT_WINDOW)
            frames += _frame(WINDOW_UPDATE, 0, 0, more)
        self._transport.write(frames)

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._transport = None
        self._fail_from(0, "the connection to containerd was lost")
        self._wake_window_waiters()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        pos, end, replies = 0, len(buffer), []
        while end - pos >= 9:
            length = int.from_bytes(buffer[pos : pos + 3], "big")
            if end - pos < 9 + length:
                break
            kind, flags = buffer[pos + 3], buffer[pos + 4]
            stream = int.from_bytes(buffer[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            payload = buffer[pos + 9 : pos + 9 + length]
            pos += 9 + length
            if kind == DATA:
                self._received += length
                if flags & PADDED:
                    payload = payload[1 : length - payload[0]]
                call = self._streams.get(stream)
                if call is not None:
                    if call.feed is None:
                        call.data.append(payload)
                    else:
                        call.feed.feed(payload)
                        if call.answer.done():  # (a message it cannot read: failed)
                            self.cancel(stream)
                            continue
                    if flags & END_STREAM:
                        self._finish(stream, call)
                    else:
                        call.received += length
                        if call.received > self._refill:  # a long stream's window
                            more = call.received.to_bytes(4, "big")
                            replies.append(_frame(WINDOW_UPDATE, 0, stream, more))
                            call.received = 0
            elif kind in (HEADERS, CONTINUATION):
                self._header_frame(kind, flags, stream, payload)
            elif kind == SETTINGS:
                if not flags & ACK:
                    self._settings(payload)
                    replies.append(_frame(SETTINGS, ACK, 0, b""))
            elif kind == PING:
                if not flags & ACK:
                    replies.append(_frame(PING, ACK, 0, payload))
            elif kind == WINDOW_UPDATE:
                if stream == 0:
                    self._send_window += int.from_bytes(payload, "big") & 0x7FFFFFFF
                    self._wake_window_waiters()
            elif kind == RST_STREAM:
                self._reset_by_peer(stream, int.from_bytes(payload, "big"))
            elif kind == GOAWAY:
                self.usable = False
                last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                self._fail_from(last + 1, "containerd is going away")
                self._retire_if_done()
                self._wake_window_waiters()
        self._buffer = buffer[pos:]
        if self._received > self._refill:
            replies.append(_frame(WINDOW_UPDATE, 0, 0, self._received.to_bytes(4, "big")))
            self._received = 0
        if replies and self._transport is not None:
            self._transport.write(b"".join(replies))

    # -- calls --

    def start(
        self, block: bytes, message: bytes, streaming: bool = False
    ) -> tuple[int, asyncio.Future[Answer], Feed | None]:
        """Sends one call: its stream id, the future of its answer (its end), and for a
        `streaming` (server-streaming) call the feed of its messages."""
        transport = self._transport
        body = b"\x00" + len(message).to_bytes(4, "big") + message
        if len(body) > min(self._send_window, self._stream_window):
            raise Unsuitable("larger than the send windows")
        if len(self._streams) >= self._max_streams:
            raise Unsuitable("containerd's stream limit")
        if transport is None or transport.is_closing() or not self.usable:
            raise Unsuitable("the connection is closing")
        stream = self._next_stream
        self._next_stream += 2
        if self._next_stream > LAST_STREAM:
            self.usable = False  # the next call opens a new connection
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        feed = Feed(answer) if streaming else None
        self._streams[stream] = _Stream(answer, feed)
        self._send_window -= len(body)
        frames = [_frame(HEADERS, END_HEADERS, stream, block)]
        size = self._max_frame
        for at in range(0, len(body), size):
            last = at + size >= len(body)
            frames.append(_frame(DATA, END_STREAM if last else 0, stream, body[at : at + size]))
        transport.write(b"".join(frames))
        return stream, answer, feed

    def room_later(self, message: bytes) -> bool:
        """`message` does not fit the connection's send window now, but fits a new
        stream's: containerd's WINDOW_UPDATE, which comes as it reads what is in flight,
        makes room (a burst of calls: 50 creates at once). `window_opened` waits for it."""
        size = len(message) + 5
        return self.usable and self._send_window < size <= self._stream_window

    async def window_opened(self) -> None:
        """Until the connection's send window grows, or the connection goes."""
        if self._window_opened is None:
            self._window_opened = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._window_opened)  # (one waiter cancelled: not the others)

    def _wake_window_waiters(self) -> None:
        waiters, self._window_opened = self._window_opened, None
        if waiters is not None and not waiters.done():
            waiters.set_result(None)

    def cancel(self, stream: int) -> None:
        """The caller left: containerd is told to end the call."""
        if self._streams.pop(stream, None) is not None and self._transport is not None:
            self._transport.write(_frame(RST_STREAM, 0, stream, CANCEL.to_bytes(4, "big")))
            self._retire_if_done()

    def close(self) -> None:
        """Ends every call on the connection (in containerd too); their callers get
        CancelledError."""
        self.usable = False
        streams, self._streams = self._streams, {}
        for call in streams.values():
            call.answer.cancel()
        if self._transport is not None:
            self._transport.close()

    # -- frames --

    def _header_frame(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        """A HEADERS frame, or a CONTINUATION of one; the block is decoded once whole."""
        if kind == HEADERS:
            if flags & PADDED:
                payload = payload[1 : len(payload) - payload[0]]
            if flags & PRIORITY:
                payload = payload[5:]
            if not flags & END_HEADERS:
                self._continued = (stream, flags, [payload])
                return
            block = payload
        else:
            if self._continued is None:
                return
            stream, first_flags, parts = self._continued
            parts.append(payload)
            if not flags & END_HEADERS:
                return
            self._continued = None
            block, flags = b"".join(parts), first_flags  # (END_STREAM is the HEADERS')
        headers = self._decode(block)  # (always: the table is the connection's)
        call = self._streams.get(stream)
        if call is not None:
            call.headers.extend(headers)
            if flags & END_STREAM:
                self._finish(stream, call)

    def _decode(self, block: bytes) -> Headers:
        if all(byte & 0x80 for byte in block):  # indexed fields only: the table unchanged
            known = self._indexed.get(block)
            if known is None:
                known = self._indexed[block] = list(self._decoder.decode(block, raw=True))
            return known
        self._indexed.clear()
        return list(self._decoder.decode(block, raw=True))

    def _settings(self, payload: bytes) -> None:
        for at in range(0, len(payload) - 5, 6):
            key, value = struct.unpack_from(">HI", payload, at)
            if key == SETTINGS_INITIAL_WINDOW_SIZE:
                self._stream_window = value
            elif key == SETTINGS_MAX_FRAME_SIZE:
                self._max_frame = value
            elif key == SETTINGS_MAX_CONCURRENT_STREAMS:
                self._max_streams = value

    def _finish(self, stream: int, call: _Stream) -> None:
        del self._streams[stream]
        if not call.answer.done():
            call.answer.set_result((b"".join(call.data), call.headers))
        self._retire_if_done()

    def _retire_if_done(self) -> None:
        """A connection no longer used for new calls closes after its last one."""
        if not self.usable and not self._streams and self._transport is not None:
            self._transport.close()

    def _reset_by_peer(self, stream: int, error: int) -> None:
        call = self._streams.pop(stream, None)
        if call is None or call.answer.done():
            return
        code = {
            REFUSED_STREAM: grpc.StatusCode.UNAVAILABLE,
            CANCEL: grpc.StatusCode.CANCELLED,
        }.get(error, grpc.StatusCode.INTERNAL)
        call.answer.set_exception(rpc_error(code, f"stream reset by containerd (error {error})"))
        self._retire_if_done()

    def _fail_from(self, first: int, why: str) -> None:
        for stream in [s for s in self._streams if s >= first]:
            call = self._streams.pop(stream)
            if not call.answer.done():
                call.answer.set_exception(rpc_error(grpc.StatusCode.UNAVAILABLE, why))


def status_error(headers: Headers) -> grpc.aio.AioRpcError | None:
    """The call's AioRpcError by its headers and trailers; None if it ended well."""
    fields = dict(headers)
    status = fields.get(b"grpc-status")
    if status is None:
        http = fields.get(b":status", b"")
        code = _HTTP_STATUS.get(http, grpc.StatusCode.UNKNOWN)
        if http == b"200":
            code = grpc.StatusCode.INTERNAL
        return rpc_error(code, f"no gRPC status in the answer (HTTP status {http.decode()})")
    if status != b"0":
        details = urllib.parse.unquote(fields.get(b"grpc-message", b"").decode())
        return rpc_error(_STATUS.get(int(status), grpc.StatusCode.UNKNOWN), details)
    return None


def answer_message(data: bytes, headers: Headers) -> bytes:
    """The answer's message, or the call's AioRpcError raised."""
    error = status_error(headers)
    if error is not None:
        raise error
    if len(data) < 5 or data[0] != 0:
        raise rpc_error(grpc.StatusCode.INTERNAL, "no (uncompressed) answer message")
    return data[5 : 5 + int.from_bytes(data[1:5], "big")]


class H2Unary:
    """The bare connection of one channel: made when first needed, made anew after it is
    lost."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: H2Connection | None = None
        self._connecting: asyncio.Future[H2Connection] | None = None
        self._closed = False

    async def call(self, block: bytes, message: bytes, route: str, recorder: CallRecorder) -> bytes:
        """One unary call's answer message, recorded once sent (or once it failed to
        connect); AioRpcError, or Unsuitable before anything is sent (use grpcio)."""
        connection = self._connection
        if connection is None or not connection.usable:
            try:
                connection = await self._connect()
            except grpc.aio.AioRpcError:
                recorder.record(route)  # (a call grpcio would have counted, and failed)
                raise
        while connection.room_later(message):
            await connection.window_opened()
        stream, answer, _ = connection.start(block, message)
        recorder.record(route)
        try:
            data, headers = await answer
        finally:
            if not answer.done() or answer.cancelled():
                connection.cancel(stream)
        return answer_message(data, headers)

    async def open_stream(
        self, block: bytes, message: bytes, route: str, recorder: CallRecorder
    ) -> ServerStream:
        """A server-streaming call sent (and recorded) as `call` sends a unary one; its
        messages are read from the answer. AioRpcError if containerd is not there,
        Unsuitable before anything is sent."""
        connection = self._connection
        if connection is None or not connection.usable:
            try:
                connection = await self._connect()
            except grpc.aio.AioRpcError:
                recorder.record(route)
                raise
        stream, _, feed = connection.start(block, message, streaming=True)
        recorder.record(route)
        assert feed is not None
        return ServerStream(connection, stream, feed)

    async def _connect(self) -> H2Connection:
        """A new connection; callers that come while one is being made wait for it (and
        try again themselves if its maker was cancelled)."""
        while (pending := self._connecting) is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # (this caller was cancelled)
        if self._closed:
            raise asyncio.CancelledError()
        loop = asyncio.get_running_loop()
        self._connecting = connecting = loop.create_future()
        try:
            _, connection = await loop.create_unix_connection(H2Connection, self._path)
            if self._closed:  # (closed meanwhile)
                connection.close()
                raise asyncio.CancelledError()
        except OSError as exc:
            error = rpc_error(grpc.StatusCode.UNAVAILABLE, f"connecting to containerd: {exc}")
            connecting.set_exception(error)
            connecting.exception()  # (retrieved: no "never retrieved" warning)
            raise error from None
        except BaseException:
            connecting.cancel()
            raise
        finally:
            self._connecting = None
        self._connection = connection  # (the one it replaces closes after its last call)
        connecting.set_result(connection)
        return connection

    def close(self) -> None:
        self._closed = True
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class ServerStream:
    """One server-streaming call on the bare connection: `next()` until None; `end()`
    resets it in containerd (RST_STREAM CANCEL) unless it has ended."""

    __slots__ = ("_connection", "_feed", "_stream")

    def __init__(self, connection: H2Connection, stream: int, feed: Feed) -> None:
        self._connection = connection
        self._stream = stream
        self._feed = feed

    def next(self) -> Coroutine[Any, Any, bytes | None]:
        return self._feed.next()

    def end(self) -> None:
        if not self._feed.answer.done():
            self._connection.cancel(self._stream)
            self._feed.answer.cancel()
