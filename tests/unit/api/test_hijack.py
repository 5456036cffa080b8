"""Hijacked connections (attach, exec start) over a real unix socket."""

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable

import pytest
import uvloop
from aiohttp import web

from api import hijack as hijack_module
from api.hijack import (
    MULTIPLEXED_STREAM,
    RAW_STREAM,
    HijackedConnection,
    hijack,
    stream_content_type,
)
from api.stdcopy import Stream, decode_frames, encode_frame
from api.streams import ClientGone
from api.versioning import ApiVersion
from daemon.errors import NotFound
from tests.unit.api.support import Served, parse_head, request_bytes, serve_app, split_head

ATTACH = request_bytes(
    "POST",
    "/v1.41/containers/c1/attach?stderr=1&stdin=1&stdout=1&stream=1",
    headers={"Content-Type": "text/plain", "Connection": "Upgrade", "Upgrade": "tcp"},
)

EXPECTED_HEAD = (
    b"HTTP/1.1 101 UPGRADED\r\n"
    b"Content-Type: application/vnd.docker.raw-stream\r\n"
    b"Connection: Upgrade\r\n"
    b"Upgrade: tcp\r\n"
    b"Api-Version: 1.56\r\n"
    b"Docker-Experimental: false\r\n"
    b"Ostype: linux\r\n"
    b"Server: moorage/0.1.0 (linux)\r\n"
    b"\r\n"
)


async def _attached(
    served: Served, stdin: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that sent the attach request (and `stdin` with it) and read the
    hijack's head."""
    reader, writer = await served.connect()
    writer.write(ATTACH + stdin)
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer


async def echo(request: web.Request) -> web.StreamResponse:
    """Echo stdin as stdout frames until EOF, then say so on stderr."""
    if request.match_info["name"] == "missing":
        raise NotFound("No such container: missing")
    conn = await hijack(request)
    async with conn:
        while data := await conn.read():
            await conn.write(encode_frame(Stream.STDOUT, data))
        await conn.write(encode_frame(Stream.STDERR, b"EOF"))
    return conn.response


async def exec_start(request: web.Request) -> web.StreamResponse:
    """Like exec start: a JSON body, then the hijack; reports the body first."""
    body = await request.json()
    conn = await hijack(request)
    async with conn:
        await conn.write(encode_frame(Stream.STDERR, json.dumps(body).encode()))
        while data := await conn.read():
            await conn.write(encode_frame(Stream.STDOUT, data))
    return conn.response


def add_echo_routes(app: web.Application) -> None:
    app.router.add_post("/containers/{name}/attach", echo)
    app.router.add_post("/exec/{id}/start", exec_start)


async def read_until_eof(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), 10)


async def half_close_after_head(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bytes:
    """Wait for the 101 before shutting down the write side, as every client
    must (it reads the reply before it starts copying stdin)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    writer.write_eof()
    return head + await read_until_eof(reader)


async def test_upgrade_head_is_exact() -> None:
    async with serve_app(add_echo_routes) as served:
        reader, writer = await served.connect()
        writer.write(ATTACH)
        data = await half_close_after_head(reader, writer)
        writer.close()
    head, rest = split_head(data)
    assert head == EXPECTED_HEAD
    assert decode_frames(rest) == [(Stream.STDERR, b"EOF")]


async def test_echo_until_half_close_then_server_closes() -> None:
    async with serve_app(add_echo_routes) as served:
        reader, writer = await served.connect()
        writer.write(ATTACH)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head == EXPECTED_HEAD
        chunks = [b"hello ", b"world\n", b"x" * 100_000]
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        # shutdown(SHUT_WR): stdin ends, the output must still come back.
        writer.write_eof()
        rest = await read_until_eof(reader)
        writer.close()
    frames = decode_frames(rest)
    assert frames[-1] == (Stream.STDERR, b"EOF")
    assert b"".join(p for s, p in frames if s is Stream.STDOUT) == b"".join(chunks)


async def test_stdin_sent_with_the_request_is_kept() -> None:
    async with serve_app(add_echo_routes) as served:
        reader, writer = await served.connect()
        # Request and stdin in one packet.
        writer.write(ATTACH + b"early bytes")
        data = await half_close_after_head(reader, writer)
        writer.close()
    _, rest = split_head(data)
    assert decode_frames(rest) == [(Stream.STDOUT, b"early bytes"), (Stream.STDERR, b"EOF")]


async def test_stdin_after_a_json_body_is_kept() -> None:
    body = b'{"Detach":false,"Tty":false}'
    request = request_bytes(
        "POST",
        "/v1.41/exec/e1/start",
        body,
        {"Content-Type": "application/json", "Connection": "Upgrade", "Upgrade": "tcp"},
    )
    async with serve_app(add_echo_routes) as served:
        reader, writer = await served.connect()
        writer.write(request + b"stdin!")
        data = await half_close_after_head(reader, writer)
        writer.close()
    head, rest = split_head(data)
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert decode_frames(rest) == [
        (Stream.STDERR, b'{"Detach": false, "Tty": false}'),
        (Stream.STDOUT, b"stdin!"),
    ]


async def test_without_upgrade_header_the_reply_is_200_and_still_hijacked() -> None:
    request = request_bytes("POST", "/containers/c1/attach?stream=1")
    async with serve_app(add_echo_routes) as served:
        reader, writer = await served.connect()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"ping")
        writer.write_eof()
        rest = await read_until_eof(reader)
        writer.close()
    status, reason, headers, _ = parse_head(head)
    assert (status, reason) == (200, "OK")
    assert headers["Content-Type"] == RAW_STREAM
    assert "Upgrade" not in headers
    assert decode_frames(rest) == [(Stream.STDOUT, b"ping"), (Stream.STDERR, b"EOF")]


async def test_error_before_the_hijack_is_an_ordinary_json_reply() -> None:
    async with serve_app(add_echo_routes) as served:
        reply = await served.request(
            "POST",
            "/v1.41/containers/missing/attach?stream=1",
            headers={"Connection": "Upgrade", "Upgrade": "tcp"},
        )
    assert reply.status == 404
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.body == b'{"message":"No such container: missing"}\n'


async def test_large_output_to_a_slow_reader_is_complete() -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB, beyond any socket buffer

    async def blast(request: web.Request) -> web.StreamResponse:
        conn = await hijack(request)
        async with conn:
            for i in range(0, len(payload), 65536):
                await conn.write(payload[i : i + 65536])
        return conn.response

    def setup(app: web.Application) -> None:
        app.router.add_post("/containers/{name}/attach", blast)

    async with serve_app(setup) as served:
        reader, writer = await _attached(served)
        await asyncio.sleep(0.2)  # let the server block on a full buffer
        received = await read_until_eof(reader)
        writer.close()
    assert received == payload


class _Recorder:
    """What a handler saw of its client leaving."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.done = asyncio.Event()
        self.outcome = ""


def _watching_handler(
    recorder: _Recorder, writes: bool
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        conn: HijackedConnection = await hijack(request)
        recorder.started.set()
        try:
            if writes:
                # A container printing now and then.
                while True:
                    await conn.write(encode_frame(Stream.STDOUT, b"tick\n"))
                    await asyncio.sleep(0.02)
            else:
                # A silent container: only stdin is watched.
                while await conn.read():
                    pass
                await conn.wait_closed()
                recorder.outcome = "closed"
        except ClientGone:
            recorder.outcome = "ClientGone"
        finally:
            recorder.done.set()
        assert conn.closed
        return conn.response

    return handler


@pytest.mark.parametrize("writes", [True, False], ids=["writing", "silent"])
async def test_client_disconnect_is_noticed(
    writes: bool, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hijack_module, "HANGUP_PROBE_INTERVAL", 0.05)
    recorder = _Recorder()

    def setup(app: web.Application) -> None:
        app.router.add_post("/containers/{name}/attach", _watching_handler(recorder, writes))

    caplog.set_level(logging.DEBUG)
    async with serve_app(setup) as served:
        reader, writer = await _attached(served)
        await asyncio.wait_for(recorder.started.wait(), 5)
        if writes:
            await reader.readexactly(8 + 5)
        writer.close()  # the client goes away entirely
        await asyncio.wait_for(recorder.done.wait(), 5)
        # Let aiohttp finish the request before looking at the logs.
        await asyncio.sleep(0.1)
    assert recorder.outcome == ("ClientGone" if writes else "closed")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_close_callbacks_run_once_at_the_loss_unless_unregistered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hijack_module, "HANGUP_PROBE_INTERVAL", 0.05)
    calls: list[str] = []
    late = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        conn = await hijack(request)
        conn.on_close(lambda: calls.append("kept"))
        conn.on_close(lambda: calls.append("dropped"))()  # unregistered at once
        await conn.wait_closed()
        # Registered once the connection is gone: called soon all the same.
        conn.on_close(late.set)
        await asyncio.wait_for(late.wait(), 5)
        return conn.response

    def setup(app: web.Application) -> None:
        app.router.add_post("/containers/{name}/attach", handler)

    async with serve_app(setup) as served:
        _, writer = await _attached(served)
        writer.close()  # the client goes away entirely
        await asyncio.wait_for(late.wait(), 5)
    assert calls == ["kept"]


async def test_half_close_is_not_mistaken_for_a_disconnect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hijack_module, "HANGUP_PROBE_INTERVAL", 0.02)

    async def late_reply(request: web.Request) -> web.StreamResponse:
        conn = await hijack(request)
        async with conn:
            assert await conn.read() == b""
            assert conn.at_eof
            await asyncio.sleep(0.3)  # several probe intervals
            assert not conn.closed
            await conn.write(b"still here")
        return conn.response

    def setup(app: web.Application) -> None:
        app.router.add_post("/containers/{name}/attach", late_reply)

    async with serve_app(setup) as served:
        reader, writer = await served.connect()
        writer.write(ATTACH)
        data = await half_close_after_head(reader, writer)
        writer.close()
    assert split_head(data)[1] == b"still here"


def test_half_close_on_uvloop() -> None:
    """The daemon may run on uvloop: its transports must keep a half-closed socket open."""

    async def scenario() -> bytes:
        async with serve_app(add_echo_routes) as served:
            reader, writer = await _attached(served, b"first")
            writer.write(b" second")
            writer.write_eof()
            data = await read_until_eof(reader)
            writer.close()
            return data

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        data = runner.run(scenario())
    frames = decode_frames(data)
    assert b"".join(p for s, p in frames if s is Stream.STDOUT) == b"first second"
    assert frames[-1] == (Stream.STDERR, b"EOF")


async def test_returning_without_close_still_ends_the_connection() -> None:
    async def forgetful(request: web.Request) -> web.StreamResponse:
        conn = await hijack(request)
        await conn.write(b"bye")
        return conn.response

    def setup(app: web.Application) -> None:
        app.router.add_post("/containers/{name}/attach", forgetful)

    async with serve_app(setup) as served:
        reader, writer = await served.connect()
        writer.write(ATTACH)
        data = await read_until_eof(reader)
        writer.close()
    assert data == EXPECTED_HEAD + b"bye"


def test_stream_content_type() -> None:
    assert stream_content_type(ApiVersion(1, 41), tty=False) == RAW_STREAM
    assert stream_content_type(ApiVersion(1, 42), tty=False) == MULTIPLEXED_STREAM
    assert stream_content_type(ApiVersion(1, 42), tty=True) == RAW_STREAM


async def test_connection_is_not_reused_after_a_hijack() -> None:
    """Bytes that look like a request after the hijack are stdin, not HTTP."""
    async with serve_app(add_echo_routes) as served:
        reader, writer = await served.connect()
        second = request_bytes("GET", "/_ping")
        writer.write(ATTACH + second)
        data = await half_close_after_head(reader, writer)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    _, rest = split_head(data)
    assert decode_frames(rest) == [(Stream.STDOUT, second), (Stream.STDERR, b"EOF")]


def test_raw_blocking_socket_client() -> None:
    """The same echo with a plain blocking socket, as a non-asyncio client would."""

    async def scenario() -> bytes:
        async with serve_app(add_echo_routes) as served:

            def client() -> bytes:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(served.socket)
                    s.sendall(ATTACH + b"abc")
                    out = s.recv(len(EXPECTED_HEAD), socket.MSG_WAITALL)
                    s.shutdown(socket.SHUT_WR)
                    while chunk := s.recv(65536):
                        out += chunk
                    return out

            return await asyncio.to_thread(client)

    with asyncio.Runner() as runner:
        data = runner.run(scenario())
    head, rest = split_head(data)
    assert head == EXPECTED_HEAD
    assert decode_frames(rest) == [(Stream.STDOUT, b"abc"), (Stream.STDERR, b"EOF")]
