"""Streamed replies: early headers, JSON lines, no Content-Type, disconnects."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from api.stdcopy import Stream, encode_frame
from api.streams import ClientGone, StreamingReply, json_line
from tests.unit.api.support import dechunk, parse_head, read_response, request_bytes, serve_app
from wire.container import WaitResponse


class Gate:
    """Lets a test decide when a handler goes on, and see how it ended."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.done = asyncio.Event()
        self.outcome = ""
        self.inner_cancelled = False


def wait_route(gate: Gate) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def wait(request: web.Request) -> web.StreamResponse:
        reply = StreamingReply(request)
        await reply.start()

        async def container_exit() -> int:
            try:
                await gate.release.wait()
            except asyncio.CancelledError:
                gate.inner_cancelled = True
                raise
            return 137

        try:
            code = await reply.race(container_exit())
            await reply.write_json(WaitResponse(Error=None, StatusCode=code))
            gate.outcome = "answered"
        except ClientGone:
            gate.outcome = "gone"
        finally:
            gate.done.set()
        return await reply.finish()

    return wait


async def test_wait_headers_go_out_before_the_body() -> None:
    gate = Gate()

    def setup(app: web.Application) -> None:
        app.router.add_post("/containers/{id}/wait", wait_route(gate))

    async with serve_app(setup) as served:
        reader, writer = await served.connect()
        writer.write(request_bytes("POST", "/v1.41/containers/c1/wait?condition=next-exit"))
        # The CLI blocks here before it sends start: the head must come now.
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        status, _, headers, _ = parse_head(head)
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        assert headers["Transfer-Encoding"] == "chunked"
        assert headers["Api-Version"] == "1.56"
        assert not gate.done.is_set()
        gate.release.set()
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert dechunk(rest) == b'{"Error":null,"StatusCode":137}\n'
    assert gate.outcome == "answered"


async def test_abandoned_wait_is_noticed(caplog: pytest.LogCaptureFixture) -> None:
    """``docker run -d`` opens a wait and drops it: the handler must stop waiting."""
    gate = Gate()

    def setup(app: web.Application) -> None:
        app.router.add_post("/containers/{id}/wait", wait_route(gate))

    caplog.set_level(logging.DEBUG)
    async with serve_app(setup) as served:
        reader, writer = await served.connect()
        writer.write(request_bytes("POST", "/v1.41/containers/c1/wait?condition=next-exit"))
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        await asyncio.wait_for(gate.done.wait(), 5)
        await asyncio.sleep(0.05)
    assert gate.outcome == "gone"
    assert gate.inner_cancelled
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_logs_reply_has_no_content_type() -> None:
    async def logs(request: web.Request) -> web.StreamResponse:
        reply = StreamingReply(request, content_type=None)
        await reply.start()
        await reply.write(encode_frame(Stream.STDOUT, b"line 1\n"))
        await reply.write(encode_frame(Stream.STDERR, b"oops\n"))
        return await reply.finish()

    def setup(app: web.Application) -> None:
        app.router.add_get("/containers/{id}/logs", logs)

    async with serve_app(setup) as served:
        reply = await served.request("GET", "/v1.41/containers/c1/logs?stdout=1&stderr=1")
    assert reply.status == 200
    assert "Content-Type" not in reply.headers
    assert reply.headers["Transfer-Encoding"] == "chunked"
    assert reply.body == encode_frame(1, b"line 1\n") + encode_frame(2, b"oops\n")


async def test_events_stream_of_json_lines_ends_on_disconnect() -> None:
    gate = Gate()

    async def events(request: web.Request) -> web.StreamResponse:
        reply = StreamingReply(request)
        await reply.start()
        try:
            n = 0
            while True:
                await reply.write_json({"Type": "container", "Action": "start", "n": n})
                n += 1
                await asyncio.sleep(0.01)
        except ClientGone:
            gate.outcome = "gone"
        finally:
            gate.done.set()
        return await reply.finish()

    def setup(app: web.Application) -> None:
        app.router.add_get("/events", events)

    async with serve_app(setup) as served:
        reader, writer = await served.connect()
        writer.write(request_bytes("GET", "/v1.41/events"))
        await reader.readuntil(b"\r\n\r\n")
        size = await reader.readline()
        line = await reader.readexactly(int(size, 16))
        assert json.loads(line) == {"Type": "container", "Action": "start", "n": 0}
        assert line.endswith(b"\n")
        writer.close()
        await asyncio.wait_for(gate.done.wait(), 5)
    assert gate.outcome == "gone"


async def test_server_close_ends_live_streams_quickly() -> None:
    gate = Gate()

    def setup(app: web.Application) -> None:
        app.router.add_post("/containers/{id}/wait", wait_route(gate))

    async with serve_app(setup) as served:
        reader, writer = await served.connect()
        writer.write(request_bytes("POST", "/containers/c1/wait"))
        await reader.readuntil(b"\r\n\r\n")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await served.server.close()
        assert loop.time() - started < 5
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    assert gate.outcome == "gone"


async def test_ordinary_replies_still_keep_the_connection_alive() -> None:
    async with serve_app() as served:
        reader, writer = await served.connect()
        writer.write(request_bytes("GET", "/_ping"))
        first = await asyncio.wait_for(read_response(reader), 5)
        writer.write(request_bytes("GET", "/v1.41/_ping"))
        second = await asyncio.wait_for(read_response(reader), 5)
        writer.close()
    assert first.body == second.body == b"OK"


def test_json_line() -> None:
    assert json_line({"a": 1, "b": [1, 2]}) == b'{"a":1,"b":[1,2]}\n'
    assert json_line(WaitResponse(Error=None, StatusCode=0)) == b'{"Error":null,"StatusCode":0}\n'
