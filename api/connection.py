"""One API connection: aiohttp's ``RequestHandler`` with a shorter way from a parsed request
to its handler.

aiohttp serves a connection with one long-lived task (``RequestHandler.start``) that waits
on a future for each request, then runs the request in a task of its own (so that context
variables a handler sets stay in that request) and waits for that task in turn: per request,
a future and three task steps (issue 13: with the request object, the writer and the
timers, some 40 of a small request's 60 us of CPU). ``ApiConnection`` keeps everything of
``RequestHandler`` (the parser and its limits, the queue of pipelined requests and its
flow control, the request object and its writer, ``finish_response``, errors, the
hand-over to ``set_parser`` for hijacks and disconnect watchers, ``shutdown``) but runs
each request in one task, started straight from ``data_received`` when the connection is
idle, or by the previous request's task when requests are pipelined (one at a time, in
order, as aiohttp does). Each task gets a fresh copy of the context the connection was
made in, as each of aiohttp's request tasks does.

The keep-alive timer (``api.limits``' head timeout) keeps aiohttp's rules: armed when the
connection is made and after each reply, it closes a connection that has no request
running when it fires (idle, or with a head still arriving), and does nothing while one
runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
import sys
from typing import Any

from aiohttp import web
from aiohttp.helpers import ceil_timeout
from aiohttp.http import StreamWriter
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import _PAYLOAD_ACCESS_ERROR, ERROR, _ErrInfo

from api.reply import WrittenReply


class ApiConnection(web.RequestHandler):
    """aiohttp's connection handler, one task per request (see the module's doc)."""

    __slots__ = ("_context",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._context: contextvars.Context | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # RequestHandler.connection_made without its start() task, and with one look at
        # the socket instead of two (uvloop makes a socket object for each).
        real_transport: Any = transport
        self.transport = real_transport
        sock = real_transport.get_extra_info("socket")
        if sock is not None:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            if self._tcp_keepalive and hasattr(socket, "SO_KEEPALIVE"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        assert self._manager is not None
        self._manager.connection_made(self, real_transport)
        # The context aiohttp's start task would copy: each request's task gets a copy.
        self._context = contextvars.copy_context()
        loop = self._loop
        if self._keepalive_timeout > 0:
            close_time = loop.time() + self._keepalive_timeout
            self._next_keepalive_close_time = close_time
            self._keepalive_handle = loop.call_at(close_time, self._process_keepalive)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._task_handler is None and self._messages and not self._force_close:
            self._start_next()

    def _start_next(self) -> None:
        """Run the first queued request in a task of its own."""
        message, payload = self._messages.popleft()
        if self._parser is not None:
            self._parser.message_consumed()
        context = self._context
        self._task_handler = self._loop.create_task(
            self._serve(message, payload), context=context.copy() if context else None
        )
        # After the task is set: resuming parses what was held back, which must queue
        # behind this request rather than start another.
        if self._buffer_paused and len(self._messages) <= self._msg_queue_resume_size:
            self._resume_reading_if_drained()

    async def _serve(self, message: Any, payload: StreamReader) -> None:
        """One request, from its parsed head to the end of its reply: the body of
        RequestHandler.start's loop, for one message."""
        loop = self._loop
        manager = self._manager
        factory = self._request_factory
        if manager is None or factory is None or self._request_handler is None:
            return  # the connection was lost before the task ran
        start = loop.time() if self._logging_enabled else None
        manager.requests_count += 1
        writer = StreamWriter(self, loop)
        if isinstance(message, _ErrInfo):
            request_handler = self._make_error_handler(message)
            message = ERROR
        else:
            request_handler = self._request_handler
        task = self._task_handler or asyncio.current_task(loop)
        request = factory(message, payload, self, writer, task)  # type: ignore[arg-type]
        goes_on = False
        try:
            try:
                resp, reset = await self._handle_request(request, start, request_handler)
            except ConnectionError:
                self.log_debug("Ignored premature client disconnection")
                reset = True
            if not reset:
                self._keepalive = bool(resp.keep_alive)
                if not payload.is_eof():
                    await self._linger(payload)
                payload.set_exception(_PAYLOAD_ACCESS_ERROR)
                goes_on = True
            else:
                self.log_debug("Ignored premature client disconnection 2")
        except asyncio.CancelledError:
            self.log_debug("Ignored premature client disconnection")
            self.force_close()
            raise
        except Exception as exc:
            self.log_exception("Unhandled exception", exc_info=exc)
            self.force_close()
        except BaseException:
            self.force_close()
            raise
        finally:
            request._task = None  # type: ignore[assignment]  # aiohttp's cycle breaker

        if self._force_close:
            return  # shutdown, or the connection is gone: whoever did it closed it
        if goes_on and self._keepalive and not self._close:
            if self._messages:
                self._start_next()
                return
            self._task_handler = None
            close_time = loop.time() + self._keepalive_timeout
            self._next_keepalive_close_time = close_time
            if self._keepalive_handle is None:
                self._keepalive_handle = loop.call_at(close_time, self._process_keepalive)
            return
        self._task_handler = None
        if self.transport is not None:
            self.transport.close()

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        # A reply api.reply already wrote has nothing to prepare or end, and is only
        # written so when nothing is to be logged; after a declined upgrade aiohttp's
        # own way feeds what followed the request.
        if type(resp) is WrittenReply and not self._upgraded and not self._logging_enabled:
            request._finish()
            return resp, False
        return await super().finish_response(request, resp, start_time)

    async def _linger(self, payload: StreamReader) -> None:
        """Read and drop what is left of a body the handler did not read (aiohttp's
        lingering close), then close unless it all came."""
        lingering_time = self._lingering_time
        if not self._force_close and lingering_time:
            self.log_debug("Start lingering close timer for %s sec.", lingering_time)
            loop = self._loop
            now = loop.time()
            end_t = now + lingering_time
            try:
                while not payload.is_eof() and now < end_t:
                    async with ceil_timeout(end_t - now):
                        await payload.readany()
                    now = loop.time()
            except (asyncio.CancelledError, TimeoutError):
                task = asyncio.current_task()
                if sys.version_info >= (3, 11) and task is not None and task.cancelling():
                    raise
        if not payload.is_eof() and not self._force_close:
            self.log_debug("Uncompleted request.")
            self.close()

    def _process_keepalive(self) -> None:
        self._keepalive_handle = None
        if self._force_close or not self._keepalive:
            return
        loop = self._loop
        now = loop.time()
        close_time = self._next_keepalive_close_time
        if now < close_time:
            # Re-armed after a later reply: fire then instead.
            self._keepalive_handle = loop.call_at(close_time, self._process_keepalive)
            return
        # No request running: idle, or a head that has not all come in time.
        if self._task_handler is None:
            self.force_close()
