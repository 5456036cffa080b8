"""What one client may cost the API server: request head and JSON body sizes, and time.

Whoever reaches the socket may be careless or hostile; a client that sends a huge
JSON document, endless headers, or its request a byte a minute must not cost the
daemon memory or hold a connection open forever, and the others go on being served.

* The request head. aiohttp's parser refuses a request line or a header line
  longer than ``max_line_bytes`` and a head of more than ``max_headers`` lines (the
  request line and the blank line count), so a head never takes more than their
  product, Go's 1 MB default that dockerd runs with. Such a head gets Go's answer
  to a head over its limit (``HEAD_TOO_LARGE_REPLY``: status 431, that text as a
  plain text body, and the connection closed) instead of aiohttp's 400, whether the
  long line is the request line or a header: Go limits the whole head, request
  line included, and never answers 414. ``ApiRunner`` makes the server's
  connections with that answer; other malformed heads keep aiohttp's 400.
* Time until the head is complete. aiohttp's keep-alive timer starts when a
  connection is made and again after each reply, and closes the connection if no
  complete request head has arrived when it fires: an idle connection and one whose
  head trickles in are both dropped after ``head_timeout``. The timer does nothing
  while a request is being handled, so attach, ``logs -f``, events, stats and
  hijacked execs run as long as they like. A TLS client gets the same time to
  finish its handshake (``api.tls``).
* A body read whole (JSON, and the small bodies of commit, auth and the hijacks)
  is refused over ``json_body_bytes`` with a 400, before any of it is read when
  Content-Length says so, and the connection is dropped if it has not all arrived
  within ``body_timeout``. Streamed bodies (image load and import, build contexts,
  archive upload: ``api.body.StreamedBody``) have no size limit, as with dockerd:
  they are as large as their source. They may be slow, but a client that sends
  nothing for ``upload_idle_timeout`` between two chunks is dropped as if it had
  hung up, so that a stalled upload frees what it holds.

dockerd 20.10 has none of these (Go's 1 MB head limit aside; its API server sets no
timeouts, so a stalled upload holds what it has until the client goes). The JSON limit is
far above any real document (a create with thousands of environment variables is a
few hundred KiB) and far below the 100 MB body the issue asks to refuse.
"""

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from .connection import ApiConnection
from .dispatch import DISPATCHER
from .streams import AlreadySentResponse

log = logging.getLogger(__name__)

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServerLimits:
    json_body_bytes: int = 10 * MiB
    body_timeout: float = 60.0
    head_timeout: float = 60.0
    upload_idle_timeout: float = 60.0
    max_line_bytes: int = 16 * 1024
    max_headers: int = 64

    def handler_options(self) -> dict[str, Any]:
        """aiohttp's RequestHandler arguments (through AppRunner) that apply these limits."""
        return {
            "keepalive_timeout": self.head_timeout,
            "max_line_size": self.max_line_bytes,
            "max_field_size": self.max_line_bytes,
            "max_headers": self.max_headers,
        }


LIMITS = web.AppKey("moorage_limits", ServerLimits)


def limits_of(request: web.Request) -> ServerLimits:
    return request.app.get(LIMITS) or ServerLimits()


# Go's net/http answer to a request head over its limit, byte for byte: it writes this
# and closes, with none of dockerd's own headers (no handler ever saw the request).
HEAD_TOO_LARGE = "431 Request Header Fields Too Large"
HEAD_TOO_LARGE_REPLY = (
    f"HTTP/1.1 {HEAD_TOO_LARGE}\r\nContent-Type: text/plain; charset=utf-8\r\n"
    f"Connection: close\r\n\r\n{HEAD_TOO_LARGE}"
).encode()


def head_too_large(exc: BaseException | None) -> bool:
    """Whether aiohttp's parser refused a head for one of the sizes above: a line too
    long, or too many lines (a plain BadHttpMessage, told by its text; the tests of
    these limits fail if aiohttp rewords it)."""
    if isinstance(exc, LineTooLong):
        return True
    return isinstance(exc, BadHttpMessage) and exc.message.startswith("Too many headers")


class _HeadLimitHandler(ApiConnection):
    """The API's connection handler (``api.connection``), answering a head over the limits
    as Go does.

    aiohttp queues a parse error as a request of its own and answers it in turn
    through ``handle_error``, after the replies to earlier pipelined requests, so the
    bytes written here come after theirs."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not head_too_large(exc):
            return super().handle_error(request, status, exc, message)
        # A client's mistake (or abuse), not the daemon's: no traceback in the log.
        log.info("refused a request head over the limits from %s: %s", request.remote, exc)
        if self.transport is not None:
            self.transport.write(HEAD_TOO_LARGE_REPLY)
        # aiohttp's own response would say HTTP/1.0 and add its headers.
        return AlreadySentResponse()


class _HeadLimitServer(web.Server):
    def __call__(self) -> ApiConnection:
        return _HeadLimitHandler(self, loop=self._loop, **self._kwargs)


class ApiRunner(web.AppRunner):
    """``web.AppRunner`` whose connections are ``api.connection.ApiConnection``s that
    answer heads over the limits with Go's 431, and hand their requests to the
    application's ``api.dispatch.Dispatcher`` (when it has one) instead of the
    application's own handler."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp has no option for the handler class; the subclass adds only a method.
        server.__class__ = _HeadLimitServer
        dispatcher = self.app.get(DISPATCHER)
        if dispatcher is not None:
            server.request_handler = dispatcher
        return server
