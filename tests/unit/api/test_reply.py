"""api.reply: a plain reply written in one write carries the very bytes aiohttp's own way
writes for it (status line, every header in its order, body), case by case; the replies
it does not take are left to aiohttp whole. A streamed reply (api.streams), framed here
too, carries the bytes aiohttp's StreamResponse writes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_writer import HttpVersion, HttpVersion10, HttpVersion11, StreamWriter
from aiohttp.test_utils import make_mocked_request

from api.errors import error_response
from api.reply import OMIT_CONTENT_TYPE, add_common_headers, write_plain
from api.routes.common import json_reply
from api.routes.system import ping
from api.streams import AlreadySentResponse, ClientGone, StreamingReply
from api.versioning import check_version


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class Protocol(BaseProtocol):
    """What a request and aiohttp's writer read of the connection's protocol."""

    access_logger = None
    ssl_context = None
    peername = sockname = None

    def __init__(self, transport: RecordingTransport) -> None:
        super().__init__(asyncio.get_running_loop())
        self.transport = transport
        self.parser: Any = None

    def set_parser(self, parser: Any) -> None:
        # A streamed reply listens for the connection's loss this way.
        self.parser = parser


def _request(
    method: str, headers: dict[str, str] | None = None, version: HttpVersion = HttpVersion11
) -> web.Request:
    app = web.Application()
    app.on_response_prepare.append(add_common_headers)
    app.freeze()
    transport = RecordingTransport()
    protocol = Protocol(transport)
    writer = StreamWriter(protocol, asyncio.get_running_loop())
    request = make_mocked_request(
        method,
        "/v1.41/containers/x/json",
        headers=headers,
        app=app,
        protocol=protocol,
        transport=transport,
        writer=writer,
        version=version,
    )
    request.match_info.add_app(app)
    return request


def _written(request: web.Request) -> list[bytes]:
    transport = request.transport
    assert isinstance(transport, RecordingTransport)
    return transport.writes


def _same_second(data: bytes) -> bytes:
    # Both ways take the Date of the current second; a test crossing one must not fail.
    return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: *\r\n", data)


async def _text_refusal() -> web.StreamResponse:
    request = _request("GET")
    response = check_version(request, "1.12")
    assert response is not None
    return response


def _closing() -> web.Response:
    response = json_reply({"Id": "x"})
    response.force_close()
    return response


def _marked() -> web.Response:
    response = web.Response(body=b"log line\n")
    response[OMIT_CONTENT_TYPE] = True
    return response


# (name, request method, request headers, the handler's reply)
CASES: list[tuple[str, str, dict[str, str], Callable[[], Any]]] = [
    ("json 200", "GET", {}, lambda: json_reply({"Id": "abc", "Warnings": []})),
    ("json 201", "POST", {}, lambda: json_reply({"Id": "abc"}, status=201)),
    ("204", "POST", {}, lambda: web.Response(status=204)),
    ("304", "POST", {}, lambda: web.Response(status=304)),
    ("304 with a body", "GET", {}, lambda: web.Response(status=304, body=b"x")),
    ("error 404", "GET", {}, lambda: error_response(404, "No such container: x")),
    ("error 500", "POST", {}, lambda: error_response(500, "boom")),
    ("empty 200", "POST", {}, lambda: web.Response(status=200)),
    ("bytes, no type", "GET", {}, lambda: web.Response(body=b"\x00\x01")),
    ("text", "GET", {}, lambda: web.Response(text="hello")),
    ("HEAD with a body", "HEAD", {}, lambda: web.Response(body=b"OK")),
    ("HEAD, empty", "HEAD", {}, lambda: web.Response()),
    ("client closes", "GET", {"Connection": "close"}, lambda: json_reply({})),
    ("reply closes", "GET", {}, _closing),
    ("no Content-Type", "GET", {}, _marked),
    (
        "own headers",
        "GET",
        {},
        lambda: web.Response(body=b"1", headers={"X-A": "b", "Pragma": "x"}),
    ),
]


@pytest.mark.parametrize(("name", "method", "headers", "make"), CASES, ids=[c[0] for c in CASES])
async def test_a_plain_reply_is_one_write_of_aiohttps_bytes(
    name: str, method: str, headers: dict[str, str], make: Callable[[], web.Response]
) -> None:
    ours = _request(method, headers)
    returned = write_plain(ours, make())
    assert len(_written(ours)) == 1, name

    theirs = _request(method, headers)
    response = make()
    await response.prepare(theirs)
    await response.write_eof()

    assert _same_second(_written(ours)[0]) == _same_second(b"".join(_written(theirs)))
    # What aiohttp then does with the connection: kept open, or closed.
    assert returned.keep_alive == response.keep_alive
    await returned.prepare(ours)
    await returned.write_eof()
    assert len(_written(ours)) == 1  # aiohttp's finish writes nothing more


async def test_the_version_refusal_in_text_is_written_as_aiohttp_writes_it() -> None:
    ours = _request("GET")
    write_plain(ours, await _text_refusal())
    theirs = _request("GET")
    response = await _text_refusal()
    await response.prepare(theirs)
    await response.write_eof()
    assert _same_second(_written(ours)[0]) == _same_second(b"".join(_written(theirs)))


async def test_ping_keeps_its_headers() -> None:
    request = _request("GET")
    write_plain(request, await ping(request))
    head, _, body = _written(request)[0].partition(b"\r\n\r\n")
    assert body == b"OK"
    assert head.split(b"\r\n")[1:4] == [
        b"Cache-Control: no-cache, no-store, must-revalidate",
        b"Pragma: no-cache",
        b"Content-Type: text/plain; charset=utf-8",
    ]
    assert b"\r\nApi-Version: " in head and b"\r\nOstype: linux" in head


@pytest.mark.parametrize(
    "make",
    [
        lambda: web.Response(body=b"x", headers={"Content-Length": "1"}),
        lambda: web.Response(body=b"x", headers={"Date": "then"}),
        lambda: web.StreamResponse(),
        lambda: AlreadySentResponse(),
    ],
    ids=["own Content-Length", "own Date", "stream", "already sent"],
)
async def test_other_replies_are_left_to_aiohttp(make: Callable[[], web.StreamResponse]) -> None:
    request = _request("GET")
    response = make()
    assert write_plain(request, response) is response
    assert _written(request) == []


async def test_an_http_1_0_request_is_left_to_aiohttp() -> None:
    request = _request("GET", version=HttpVersion10)
    response = json_reply({})
    assert write_plain(request, response) is response


async def test_header_injection_is_refused_as_aiohttp_refuses_it() -> None:
    request = _request("GET")
    with pytest.raises(ValueError, match="header injection"):
        write_plain(request, web.Response(body=b"x", headers={"X-A": "b\r\nSet-Cookie: y"}))
    assert _written(request) == []


# (name, content type, more headers) of streamed replies: a wait, logs (no Content-Type),
# an archive (its stat header).
STREAMS: list[tuple[str, str | None, dict[str, str]]] = [
    ("json", "application/json", {}),
    ("no Content-Type", None, {}),
    ("archive", "application/x-tar", {"X-Docker-Container-Path-Stat": "eyJuYW1lIjoiYSJ9"}),
]


@pytest.mark.parametrize(("name", "content_type", "extra"), STREAMS, ids=[c[0] for c in STREAMS])
@pytest.mark.parametrize("last", [b"", b'{"StatusCode":0}\n'], ids=["no last", "last"])
async def test_a_streamed_reply_is_written_as_aiohttp_writes_it(
    name: str, content_type: str | None, extra: dict[str, str], last: bytes
) -> None:
    ours = _request("POST")
    reply = StreamingReply(ours, content_type=content_type)
    reply.headers.update(extra)
    await reply.start()
    assert len(_written(ours)) == 1  # the head, at once
    await reply.write(b"x" * 3000)
    await reply.write(b"")
    await reply.write(b"line\n")
    returned = await reply.finish(last)

    theirs = _request("POST")
    response = web.StreamResponse()
    if content_type is None:
        response[OMIT_CONTENT_TYPE] = True
    else:
        response.content_type = content_type
    response.headers.update(extra)
    response.enable_chunked_encoding()
    response.force_close()
    await response.prepare(theirs)
    await response.write(b"x" * 3000)
    await response.write(b"")
    await response.write(b"line\n")
    await response.write_eof(last)

    assert _same_second(b"".join(_written(ours))) == _same_second(b"".join(_written(theirs)))
    assert returned.status == 200 and not returned.keep_alive
    await returned.prepare(ours)
    await returned.write_eof()
    assert _written(ours)[-1].endswith(b"0\r\n\r\n")  # nothing after the end


async def test_a_streamed_reply_to_a_gone_client_raises_client_gone() -> None:
    request = _request("GET")
    reply = StreamingReply(request)
    await reply.start()
    transport = request.transport
    assert isinstance(transport, RecordingTransport)
    transport.is_closing = lambda: True  # type: ignore[method-assign]
    with pytest.raises(ClientGone):
        await reply.write(b"more")
    assert reply.disconnected.is_set()
    assert len(_written(request)) == 1  # the head only
    await reply.finish()  # ends quietly: nothing more to say to no one
    assert len(_written(request)) == 1
