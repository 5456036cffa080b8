"""Error replies: dockerd's shape for every kind of failure."""

import asyncio
import logging

import pytest
from aiohttp import web

from api.errors import error_response, status_for
from api.streams import StreamingReply
from daemon import errors
from tests.unit.api.support import serve_app


class OddError(errors.DaemonError):
    """A kind the API layer does not know."""


RAISED: dict[str, Exception] = {
    "notfound": errors.NotFound("No such container: x"),
    "conflict": errors.Conflict("Container abc is not running"),
    "invalid": errors.InvalidParameter("Invalid signal: FOO"),
    "forbidden": errors.Forbidden("not allowed"),
    "unavailable": errors.Unavailable("containerd is not running"),
    "system": errors.SystemError("Container abc is not paused"),
    "odd": OddError("odd"),
    "notmodified": errors.NotModified(),
    "crash": RuntimeError("boom"),
    "keyerror": KeyError("k"),
    "toolarge": web.HTTPRequestEntityTooLarge(max_size=1, actual_size=2),
}


async def raiser(request: web.Request) -> web.Response:
    raise RAISED[request.match_info["kind"]]


async def fails_mid_stream(request: web.Request) -> web.StreamResponse:
    reply = StreamingReply(request)
    await reply.start()
    await reply.write(b'{"partial":')
    raise errors.SystemError("too late for a JSON error")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/raise/{kind}", raiser)
    app.router.add_get("/midstream", fails_mid_stream)


@pytest.mark.parametrize(
    ("kind", "status", "body"),
    [
        ("notfound", 404, b'{"message":"No such container: x"}\n'),
        ("conflict", 409, b'{"message":"Container abc is not running"}\n'),
        ("invalid", 400, b'{"message":"Invalid signal: FOO"}\n'),
        ("forbidden", 403, b'{"message":"not allowed"}\n'),
        ("unavailable", 503, b'{"message":"containerd is not running"}\n'),
        ("system", 500, b'{"message":"Container abc is not paused"}\n'),
        ("odd", 500, b'{"message":"odd"}\n'),
        ("crash", 500, b'{"message":"boom"}\n'),
        ("keyerror", 500, b'{"message":"\'k\'"}\n'),
    ],
)
async def test_error_kinds_map_to_statuses(kind: str, status: int, body: bytes) -> None:
    async with serve_app(add_routes) as served:
        reply = await served.request("POST", f"/v1.41/raise/{kind}")
    assert reply.status == status
    assert reply.body == body
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Api-Version"] == "1.56"


async def test_not_modified_has_no_body() -> None:
    async with serve_app(add_routes) as served:
        reply = await served.request("POST", "/v1.41/raise/notmodified")
    assert reply.status == 304
    assert reply.body == b""
    assert "Content-Length" not in reply.headers


async def test_aiohttp_http_errors_become_json() -> None:
    async with serve_app(add_routes) as served:
        reply = await served.request("POST", "/v1.41/raise/toolarge")
    assert reply.status == 413
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.body.startswith(b'{"message":"Maximum request body size 1 exceeded')


async def test_wrong_method_is_page_not_found_like_dockerd() -> None:
    async with serve_app(add_routes) as served:
        reply = await served.request("GET", "/v1.41/raise/notfound")
        ping = await served.request("POST", "/_ping")
    assert (reply.status, reply.body) == (404, b'{"message":"page not found"}\n')
    assert (ping.status, ping.body) == (404, b'{"message":"page not found"}\n')


async def test_unexpected_exception_is_logged_and_the_server_lives_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    async with serve_app(add_routes) as served:
        crash = await served.request("POST", "/v1.41/raise/crash")
        after = await served.request("GET", "/_ping")
    assert crash.status == 500
    assert after.body == b"OK"
    logged = [r for r in caplog.records if r.name == "api.errors"]
    assert logged and logged[0].exc_info is not None
    assert "RuntimeError: boom" in caplog.text


async def test_error_after_the_reply_started_cuts_the_connection() -> None:
    async with serve_app(add_routes) as served:
        reader, writer = await served.connect()
        writer.write(b"GET /midstream HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'{"partial":' in data
    assert b"too late" not in data
    # The chunked body is never terminated: the client sees a broken reply.
    assert not data.endswith(b"0\r\n\r\n")


def test_status_for_and_error_response() -> None:
    assert status_for(errors.NotFound("x")) == 404
    assert status_for(errors.NotModified()) == 304
    assert status_for(OddError("x")) == 500
    reply = error_response(409, 'Conflict. The container name "/x" is already in use')
    assert reply.body == b'{"message":"Conflict. The container name \\"/x\\" is already in use"}\n'
    assert reply.content_type == "application/json"


def test_daemon_error_message() -> None:
    err = errors.Conflict("Container x is paused")
    assert str(err) == err.message == "Container x is paused"
    assert isinstance(err, errors.DaemonError)
    assert errors.NotModified().message == ""
