"""api.connection: a connection runs its requests one task each, in order, as aiohttp's
own handler did: keep-alive, pipelining, bodies left unread, HTTP/1.0, context variables
kept to their request, and a graceful shutdown. Real unix sockets, raw bytes."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from api.limits import ServerLimits
from tests.unit.api.support import Served, read_response, request_bytes, serve_app

_SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


async def _echo_path(request: web.Request) -> web.Response:
    return web.Response(body=request.path.encode())


async def _set_var(request: web.Request) -> web.Response:
    before = _SEEN.get()
    _SEEN.set(request.match_info["value"])  # never reset: it must not outlive the request
    return web.Response(body=before.encode())


async def _ignore_body(request: web.Request) -> web.Response:
    return web.Response(status=204)  # its body is left unread


async def _slow(request: web.Request) -> web.Response:
    request.app[_SLOW_STARTED].set()
    await request.app[_SLOW_GO].wait()
    return web.Response(body=b"done")


_SLOW_STARTED = web.AppKey("slow_started", asyncio.Event)
_SLOW_GO = web.AppKey("slow_go", asyncio.Event)


def _routes(app: web.Application) -> None:
    app[_SLOW_STARTED] = asyncio.Event()
    app[_SLOW_GO] = asyncio.Event()
    app.router.add_get("/path/{n}", _echo_path)
    app.router.add_get("/set/{value}", _set_var)
    app.router.add_post("/ignore", _ignore_body)
    app.router.add_get("/slow", _slow)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serve_app(_routes, ServerLimits(head_timeout=5.0)) as served:
        yield served


async def test_requests_on_one_connection_are_answered_in_turn(served: Served) -> None:
    async with served.connection() as (reader, writer):
        for n in range(3):
            writer.write(request_bytes("GET", f"/v1.41/path/{n}"))
            reply = await asyncio.wait_for(read_response(reader), 10)
            assert (reply.status, reply.body) == (200, f"/v1.41/path/{n}".encode())
            assert "Connection" not in reply.headers


async def test_pipelined_requests_are_answered_in_order(served: Served) -> None:
    async with served.connection() as (reader, writer):
        writer.write(b"".join(request_bytes("GET", f"/path/{n}") for n in range(5)))
        for n in range(5):
            reply = await asyncio.wait_for(read_response(reader), 10)
            assert reply.body == f"/path/{n}".encode()


async def test_a_context_variable_stays_in_its_request(served: Served) -> None:
    async with served.connection() as (reader, writer):
        writer.write(request_bytes("GET", "/set/a"))
        assert (await asyncio.wait_for(read_response(reader), 10)).body == b"unset"
        writer.write(request_bytes("GET", "/set/b"))
        assert (await asyncio.wait_for(read_response(reader), 10)).body == b"unset"
        # Pipelined: the second request's task starts from the first one's.
        writer.write(request_bytes("GET", "/set/c") + request_bytes("GET", "/set/d"))
        assert (await asyncio.wait_for(read_response(reader), 10)).body == b"unset"
        assert (await asyncio.wait_for(read_response(reader), 10)).body == b"unset"


async def test_a_body_left_unread_does_not_become_the_next_request(served: Served) -> None:
    async with served.connection() as (reader, writer):
        body = b"GET /path/x HTTP/1.1\r\n\r\n" * 10
        writer.write(request_bytes("POST", "/ignore", body) + request_bytes("GET", "/path/1"))
        assert (await asyncio.wait_for(read_response(reader), 10)).status == 204
        reply = await asyncio.wait_for(read_response(reader), 10)
        assert reply.body == b"/path/1"


async def test_an_http_1_0_request_is_answered_and_the_connection_closed(
    served: Served,
) -> None:
    async with served.connection() as (reader, writer):
        writer.write(b"GET /path/1 HTTP/1.0\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 10)  # read to EOF: it closes
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 200 OK") or head.startswith(b"HTTP/1.1 200 OK")
        assert body == b"/path/1"


async def test_a_malformed_request_after_a_good_one_gets_its_400(served: Served) -> None:
    async with served.connection() as (reader, writer):
        writer.write(request_bytes("GET", "/path/1"))
        assert (await asyncio.wait_for(read_response(reader), 10)).body == b"/path/1"
        writer.write(b"NOT HTTP\r\n\r\n")
        reply = await asyncio.wait_for(read_response(reader), 10)
        assert reply.status == 400


async def test_shutdown_lets_a_request_in_flight_finish(served: Served) -> None:
    async with served.connection() as (reader, writer):
        writer.write(request_bytes("GET", "/slow"))
        await asyncio.wait_for(served.app[_SLOW_STARTED].wait(), 10)
        closing = asyncio.ensure_future(served.server.close())
        await asyncio.sleep(0)  # the shutdown starts while the request runs
        served.app[_SLOW_GO].set()
        reply = await asyncio.wait_for(read_response(reader), 10)
        assert (reply.status, reply.body) == (200, b"done")
        await asyncio.wait_for(closing, 15)
        assert await asyncio.wait_for(reader.read(), 10) == b""
