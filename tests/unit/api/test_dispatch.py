"""api.dispatch: what every request goes through, seen from a client on the socket."""

from __future__ import annotations

import asyncio

from aiohttp import web

from api.routes.common import json_reply
from api.versioning import CURRENT_API_VERSION
from daemon.errors import NotFound
from tests.unit.api.support import read_response, request_bytes, serve_app


async def _echo(request: web.Request) -> web.Response:
    return json_reply({"got": (await request.read()).decode(), "id": request.match_info["id"]})


async def _missing(request: web.Request) -> web.Response:
    raise NotFound(f"No such container: {request.match_info['id']}")


def _routes(app: web.Application) -> None:
    app.router.add_post("/things/{id}/echo", _echo)
    app.router.add_get("/things/{id}/json", _missing)


async def test_expect_100_continue_gets_its_interim_reply_before_the_body_is_sent() -> None:
    # curl asks so before any body over 1 KiB.
    async with serve_app(_routes) as served:
        reader, writer = await served.connect()
        body = b"x" * 2048
        head = request_bytes(
            "POST", "/v1.41/things/a/echo", body, {"Expect": "100-continue"}
        ).removesuffix(body)
        writer.write(head)
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        reply = await asyncio.wait_for(read_response(reader), 10)
        assert reply.status == 200
        assert reply.body == b'{"got":"' + body + b'","id":"a"}\n'
        writer.close()


async def test_each_request_is_observed_with_its_route_pattern_and_final_status() -> None:
    seen: list[tuple[str, str, int]] = []

    def observe(method: str, route: str, code: int, seconds: float) -> None:
        assert seconds >= 0
        seen.append((method, route, code))

    async with serve_app(_routes, observe=observe) as served:
        await served.request("POST", "/v1.41/things/a/echo", b"{}")
        await served.request("POST", "/things/b/echo", b"{}")
        await served.request("GET", "/v1.41/things/c/json")
        await served.request("GET", "/v1.41/nothing/here")
        await served.request("GET", "/v99.0/things/c/json")
    assert seen == [
        ("POST", "/things/{id}/echo", 200),
        ("POST", "/things/{id}/echo", 200),
        ("GET", "/things/{id}/json", 404),
        ("GET", "unmatched", 404),
        ("GET", "/things/{id}/json", 400),
    ]


async def test_replies_on_one_connection_follow_each_other_and_a_close_is_honoured() -> None:
    async with serve_app(_routes) as served:
        reader, writer = await served.connect()
        # Pipelined: each reply whole, in order, the version prefix or not.
        writer.write(
            request_bytes("POST", "/v1.41/things/1/echo", b"a")
            + request_bytes("POST", "/things/2/echo", b"b")
            + request_bytes("GET", "/_ping", headers={"Connection": "close"})
        )
        first = await asyncio.wait_for(read_response(reader), 10)
        second = await asyncio.wait_for(read_response(reader), 10)
        third = await asyncio.wait_for(read_response(reader), 10)
        assert (first.body, second.body) == (b'{"got":"a","id":"1"}\n', b'{"got":"b","id":"2"}\n')
        assert "Connection" not in first.headers and "Connection" not in second.headers
        assert first.headers["Api-Version"] == str(CURRENT_API_VERSION)
        assert third.body == b"OK" and third.headers["Connection"] == "close"
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
        writer.close()
