"""Version prefix, version limits, common headers and /_ping."""

import json

import pytest
from aiohttp import web

from api.versioning import (
    CURRENT_API_VERSION,
    ApiVersion,
    api_version,
    split_version_prefix,
)
from tests.unit.api.support import serve_app

COMMON = {
    "Api-Version": "1.56",
    "Docker-Experimental": "false",
    "Ostype": "linux",
    "Server": "moorage/0.1.0 (linux)",
}


async def show_request(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "version": str(api_version(request)),
            "match": dict(request.match_info),
            "query": dict(request.query),
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/echo", show_request)
    app.router.add_get("/containers/{name}/json", show_request)
    app.router.add_get("/images/{name:.*}/json", show_request)


def test_api_version_parse_and_order() -> None:
    assert ApiVersion.parse("1.41") == (1, 41)
    assert ApiVersion.parse("1.9") < ApiVersion.parse("1.24")
    assert ApiVersion.parse("1") == (1, 0)
    assert str(ApiVersion(1, 41)) == "1.41"
    assert ApiVersion(1, 56) == CURRENT_API_VERSION


def test_split_version_prefix() -> None:
    assert split_version_prefix("/v1.41/containers/json") == ("1.41", "/containers/json")
    assert split_version_prefix("/containers/json") == (None, "/containers/json")
    assert split_version_prefix("/v1.41") == ("1.41", "/")
    assert split_version_prefix("/version") == (None, "/version")


@pytest.mark.parametrize(
    ("raw_path", "split"),
    [
        ("/v1.41/", ("1.41", "/")),
        ("/v1.41//x", ("1.41", "//x")),
        ("/v1/containers/json", ("1", "/containers/json")),
        ("/v.../x", ("...", "/x")),
        ("/v/containers/json", (None, "/v/containers/json")),
        ("/v", (None, "/v")),
        ("/v1.41abc/_ping", (None, "/v1.41abc/_ping")),
        ("/v1.4a1/_ping", (None, "/v1.4a1/_ping")),
        ("/v-1.41/_ping", (None, "/v-1.41/_ping")),
        ("/volumes/v1.41", (None, "/volumes/v1.41")),
        ("/x/v1.41/_ping", (None, "/x/v1.41/_ping")),
    ],
)
def test_the_prefix_is_a_run_of_digits_and_dots_up_to_a_slash(
    raw_path: str, split: tuple[str | None, str]
) -> None:
    # dockerd's router takes any run of digits and dots after "/v" as the version.
    assert split_version_prefix(raw_path) == split


async def test_head_ping_is_what_the_cli_sends_first() -> None:
    async with serve_app() as served:
        reply = await served.request("HEAD", "/_ping")
    assert reply.status == 200
    assert reply.body == b""
    for name, value in COMMON.items():
        assert reply.headers[name] == value
    assert reply.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert reply.headers["Pragma"] == "no-cache"
    assert reply.headers["Content-Length"] == "0"
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "Date" in reply.headers


@pytest.mark.parametrize("path", ["/_ping", "/v1.41/_ping", "/v1.24/_ping"])
async def test_get_ping_says_ok(path: str) -> None:
    async with serve_app() as served:
        reply = await served.request("GET", path)
    assert (reply.status, reply.body) == (200, b"OK")
    assert reply.headers["Content-Length"] == "2"
    assert reply.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert reply.headers["Api-Version"] == "1.56"


async def test_version_prefix_is_stripped_and_recorded() -> None:
    async with serve_app(add_routes) as served:
        prefixed = await served.request("GET", "/v1.30/containers/abc/json?all=1&size=0")
        plain = await served.request("GET", "/containers/abc/json")
        image = await served.request("GET", "/v1.41/images/docker.io/library/busybox:1.36/json")
        echo = await served.request("GET", "/echo")
    assert json.loads(prefixed.body) == {
        "version": "1.30",
        "match": {"name": "abc"},
        "query": {"all": "1", "size": "0"},
    }
    assert json.loads(plain.body)["version"] == "1.56"
    assert json.loads(image.body)["match"] == {"name": "docker.io/library/busybox:1.36"}
    assert json.loads(echo.body)["version"] == "1.56"


async def test_too_old_version_is_plain_text() -> None:
    async with serve_app() as served:
        reply = await served.request("GET", "/v1.11/_ping")
    assert reply.status == 400
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.body == (
        b"client version 1.11 is too old. Minimum supported API version is 1.24, "
        b"please upgrade your client to a newer version\n"
    )


async def test_version_123_is_still_answered_in_plain_text() -> None:
    # dockerd gives JSON errors only to versions above 1.23.
    async with serve_app() as served:
        reply = await served.request("GET", "/v1.23/version-does-not-matter/_ping")
        known = await served.request("GET", "/v1.23/_ping")
    assert reply.status == 404  # unknown route: 404 whatever the version
    assert known.status == 400
    assert known.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert known.body == (
        b"client version 1.23 is too old. Minimum supported API version is 1.24, "
        b"please upgrade your client to a newer version\n"
    )


async def test_too_new_version_is_json() -> None:
    async with serve_app() as served:
        reply = await served.request("GET", "/v1.57/_ping")
    assert reply.status == 400
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.body == (
        b'{"message":"client version 1.57 is too new. Maximum supported API version is 1.56"}\n'
    )
    for name, value in COMMON.items():
        assert reply.headers[name] == value


@pytest.mark.parametrize(
    "path", ["/v1.41/v1.41/_ping", "/v1.41/nope", "/nope", "/v1.41", "/v1.41abc/_ping"]
)
async def test_unknown_paths_are_page_not_found(path: str) -> None:
    async with serve_app() as served:
        reply = await served.request("GET", path)
    assert reply.status == 404
    assert reply.body == b'{"message":"page not found"}\n'
    assert reply.headers["Api-Version"] == "1.56"


@pytest.mark.parametrize("prefix", ["/v1.24", "/v1.56", ""])
async def test_each_supported_version_reaches_the_route_with_decoded_parameters(
    prefix: str,
) -> None:
    # The second routing pass sees the decoded path without the prefix: an escaped
    # parameter reads the same with or without a version, and %2F stays inside it.
    async with serve_app(add_routes) as served:
        image = await served.request("GET", f"{prefix}/images/a%3Ab%2Fc/json?x=%20")
        container = await served.request("GET", f"{prefix}/containers/my%20name/json")
    assert json.loads(image.body) == {
        "version": prefix[2:] or "1.56",
        "match": {"name": "a:b/c"},
        "query": {"x": " "},
    }
    assert json.loads(container.body)["match"] == {"name": "my name"}


@pytest.mark.parametrize("version", ["1.24", "1.41", "1.56"])
async def test_a_wrong_method_answers_alike_with_and_without_a_version(version: str) -> None:
    async with serve_app(add_routes) as served:
        plain = await served.request("POST", "/containers/abc/json")
        prefixed = await served.request("POST", f"/v{version}/containers/abc/json")
    # dockerd's router answers a known path with another method as an unknown one.
    assert (plain.status, plain.body) == (404, b'{"message":"page not found"}\n')
    assert (prefixed.status, prefixed.body) == (plain.status, plain.body)
