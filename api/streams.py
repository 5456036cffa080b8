"""Streamed replies: headers flushed at once, body written over time.

``wait``, ``logs -f``, ``events`` and ``stats`` all send their 200 headers
before there is anything to say; the CLI blocks on them (``docker run`` sends
start only after the wait headers arrived). ``StreamingReply`` does that, and
also tells the handler when the client went away.

How a client going away is noticed: the server runs with aiohttp's default
``handler_cancellation=False`` (cancelling any handler at a disconnect could
interrupt a create or a start half way). Instead, a streaming reply installs
itself as the connection's payload parser once the request body is read;
aiohttp calls ``feed_eof`` on that parser when the connection is lost, which
sets ``StreamingReply.disconnected``. A handler that waits on the daemon uses
``await reply.race(awaitable)``: it returns the awaitable's result, or cancels
it and raises ``ClientGone`` as soon as the client leaves. Writes to a client
that left raise ``ClientGone`` too. The error middleware ends such a request
quietly. Because the connection's input is taken over, a streamed reply always
closes the connection at its end (``Connection: close``).
"""

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11

from api.reply import LAST_CHUNK, OMIT_CONTENT_TYPE, chunk, stream_head
from libcontainerd import jsonbytes

_T = TypeVar("_T")

# Set once a reply's first bytes are on the wire: an error after that point can
# no longer become a JSON error reply.
RESPONSE_STARTED = web.RequestKey("moorage_response_started", bool)
_DISCONNECTED = web.RequestKey("moorage_disconnected", asyncio.Event)


class ClientGone(ConnectionResetError):
    """The client closed its connection; nothing more can be sent to it."""


class Abortable(Protocol):
    def abort(self) -> None: ...


# Streams and hijacked connections still open, so that a server shutdown can
# end them instead of waiting for clients that may never hang up.
LIVE_STREAMS = web.AppKey("moorage_live_streams", weakref.WeakSet[Abortable])


def track(request: web.Request, stream: Abortable) -> None:
    live = request.app.get(LIVE_STREAMS)
    if live is not None:
        live.add(stream)


def abort_live_streams(app: web.Application) -> None:
    for stream in list(app.get(LIVE_STREAMS, ())):
        stream.abort()


class AlreadySentResponse(web.StreamResponse):
    """What a handler returns when its reply was written by hand or cannot be written.

    aiohttp prepares and finishes whatever a handler returns; this response
    writes nothing on either, and closes the connection afterwards.
    """

    def __init__(self, status: int = 200, reason: str | None = None) -> None:
        super().__init__(status=status, reason=reason)
        self.force_close()

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class _DisconnectWatcher:
    """Stands in as the connection's payload parser to hear about connection loss."""

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        # A client waiting on a streamed reply has nothing more to say.
        return False, b""

    def feed_eof(self) -> None:
        self._event.set()


def watch_disconnect(request: web.Request) -> asyncio.Event:
    """An event set when the request's connection is lost.

    The connection cannot serve another request afterwards: the reply must
    close it (``StreamingReply`` does).
    """
    if _DISCONNECTED in request:
        return request[_DISCONNECTED]
    event = asyncio.Event()
    request[_DISCONNECTED] = event
    protocol = request.protocol

    def install() -> None:
        if protocol.transport is None:
            event.set()
        else:
            protocol.set_parser(_DisconnectWatcher(event))  # type: ignore[arg-type]

    if request.content.is_eof():
        install()
    else:
        # The body is still arriving and its parser owns the connection until then.
        request.content.on_eof(install)
    return event


# A JSON reply's headers: given whole, the Content-Type is taken as it is; aiohttp's
# content_type argument parses and rebuilds it (half the cost of a small reply's
# Response, issue 13). Responses copy it.
JSON_HEADERS = {"Content-Type": "application/json"}


def json_line(obj: Mapping[str, Any] | Sequence[Any]) -> bytes:
    """One JSON document (a ``wire`` reply) and a newline, compact, as Go's json.Encoder
    writes it (libcontainerd.jsonbytes: the stdlib encoder was the largest share of a
    reply's CPU after aiohttp's own, issue 13)."""
    return jsonbytes.dumps(obj, newline=True)


class StreamingReply:
    """A chunked reply whose headers go out at ``start()`` and body over time.

    Its head and chunks are written here (``api.reply.stream_head``, ``chunk``): the bytes
    aiohttp's StreamResponse writes, without its prepare chain and writer (a wait cost ~50
    us more that way, issue 13). A HEAD or HTTP/1.0 request, which aiohttp frames
    otherwise, still gets aiohttp's StreamResponse."""

    def __init__(
        self,
        request: web.Request,
        *,
        content_type: str | None = "application/json",
        status: int = 200,
    ) -> None:
        self._request = request
        self._status = status
        self._content_type = content_type
        # More headers of the reply, set before ``start()``.
        self.headers: dict[str, str] = {}
        self.disconnected = asyncio.Event()
        self._finished = False
        self._fallback: web.StreamResponse | None = None

    async def start(self) -> None:
        """Send the status line and headers now."""
        request = self._request
        if request.version != HttpVersion11 or request.method == hdrs.METH_HEAD:
            await self._start_fallback()
        else:
            self._send(stream_head(self._status, self._content_type, self.headers))
        request[RESPONSE_STARTED] = True
        self.disconnected = watch_disconnect(request)
        track(request, self)

    async def _start_fallback(self) -> None:
        response = self._fallback = web.StreamResponse(status=self._status)
        if self._content_type is None:
            response[OMIT_CONTENT_TYPE] = True
        else:
            response.content_type = self._content_type
        response.headers.update(self.headers)
        response.enable_chunked_encoding()
        response.force_close()
        try:
            await response.prepare(self._request)
        except ConnectionError as exc:
            raise ClientGone("client went away before the reply started") from exc

    def _send(self, data: bytes) -> None:
        transport = self._request.transport
        if transport is None or transport.is_closing():
            self.disconnected.set()
            raise ClientGone("client went away")
        transport.write(data)

    async def write(self, data: bytes) -> None:
        """Send raw body bytes. Raises ``ClientGone`` if the client left."""
        if self.disconnected.is_set():
            raise ClientGone("client went away")
        try:
            if self._fallback is not None:
                await self._fallback.write(data)
            elif data:
                self._send(chunk(data))
                # Waits while the socket's buffer is over its high-water mark.
                await self._request.writer.drain()
        except ConnectionError as exc:
            self.disconnected.set()
            raise ClientGone("client went away") from exc

    async def write_json(self, obj: Mapping[str, Any] | Sequence[Any]) -> None:
        """Send one JSON document followed by a newline."""
        await self.write(json_line(obj))

    async def race(self, awaitable: Awaitable[_T]) -> _T:
        """Await ``awaitable`` unless the client leaves first (then ``ClientGone``)."""
        task: asyncio.Future[_T] = asyncio.ensure_future(awaitable)
        gone = asyncio.ensure_future(self.disconnected.wait())
        either: set[asyncio.Future[Any]] = {task, gone}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled() and self.disconnected.is_set():
            raise ClientGone("client went away")
        return task.result()

    async def finish(self, last: bytes = b"") -> web.StreamResponse:
        """End the body, after `last` if given (one write for both: a wait's only line);
        the handler returns what this returns (it writes nothing more, and closes)."""
        if last and self.disconnected.is_set():
            raise ClientGone("client went away")
        if not self._finished:
            self._finished = True
            if not self.disconnected.is_set():
                try:
                    if self._fallback is not None:
                        await self._fallback.write_eof(last)
                    else:
                        self._send(chunk(last) + LAST_CHUNK if last else LAST_CHUNK)
                except ConnectionError:
                    self.disconnected.set()
        return AlreadySentResponse(self._status)

    def abort(self) -> None:
        """Drop the connection (server shutdown)."""
        transport = self._request.transport
        if transport is not None:
            transport.close()
