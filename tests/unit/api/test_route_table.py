"""api.route_table: paths find the route aiohttp's own walk finds.

With all of mooraged's routes, every route's path (and near misses of it) under every
method is resolved by aiohttp's router alone, unprefixed, and then the ways the server
resolves it: under ``/v1.41`` through the router (``VersionedPaths`` and its
``RouteTable``), and both with and without the prefix through ``VersionedPaths.find``
(the dispatcher's way: the table first). All must give the same route, the same path
parameters, or the same error.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from api.route_table import RouteTable
from api.routes import (
    archive,
    build,
    container_fs,
    container_ops,
    containers,
    events,
    exec,
    images,
    info,
    networks,
    stats,
    swarm,
    system_df,
    volumes,
)
from api.server import make_app
from api.versioning import VersionedPaths

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")


def _mooraged_app() -> web.Application:
    app = make_app()
    for module in (containers, exec, info, events, stats, container_ops, archive):
        module.add_routes(app.router)
    for module in (container_fs, system_df, volumes, swarm, networks, build):
        module.add_routes(app.router)
    images.add_routes(app, None)  # type: ignore[arg-type]  # routes only: never called
    app.freeze()
    return app


def _paths(app: web.Application) -> list[str]:
    paths = {"/", "/nosuch", "/containers", "/containers/", "/containers/a/b/c/d"}
    for resource in app.router.resources():
        canonical = resource.canonical
        if "{version}" in str(resource.get_info()):
            continue
        for value in ("abc", "a%2Fb", "ns/name:tag", "{x}"):
            path = re.sub(r"\{[^}]*\}", value, canonical)
            paths |= {path, path + "/", path + "/extra", path.rpartition("/")[0] + "/json"}
    return sorted(paths)


class _Request:
    """What the router and its resources read of a request."""

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.rel_url = URL(path)


def _request(method: str, path: str) -> web.Request:
    return _Request(method, path)  # type: ignore[return-value]


def _outcome(match_info: Any) -> Any:
    if match_info.http_exception is not None:
        return match_info.http_exception.status
    return (match_info.route.resource.canonical, match_info.route.method, dict(match_info))


async def test_versioned_paths_find_what_aiohttp_finds() -> None:
    app = _mooraged_app()
    (paths,) = (r for r in app.router.resources() if isinstance(r, VersionedPaths))
    checked = 0
    for path in _paths(app):
        for method in METHODS:
            plain = _outcome(await app.router.resolve(_request(method, path)))
            versioned = await app.router.resolve(_request(method, "/v1.41" + path))
            assert _outcome(versioned) == plain, f"{method} {path}"
            found = await paths.find(_request(method, path), None)
            assert _outcome(found) == plain, f"{method} {path}, found"
            found = await paths.find(_request(method, "/v1.41" + path), "1.41")
            assert _outcome(found) == plain, f"{method} /v1.41{path}, found"
            # The dispatcher's first step: the table alone, or None for aiohttp's walk.
            looked_up = paths.lookup(method, URL("/v1.41" + path).path_safe, "1.41")
            if looked_up is not None:
                assert _outcome(looked_up) == plain, f"{method} /v1.41{path}, lookup"
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/containers/abc/stats", "/containers/{name}/stats"),
        ("DELETE", "/containers/abc/stats", "/containers/{parent}/{alias}"),
        ("POST", "/containers/abc/wait", "/containers/{name}/wait"),
        ("GET", "/containers/json", "/containers/json"),
        ("POST", "/containers/create", "/containers/create"),
        ("POST", "/containers/abc/start", "/containers/{name}/start"),
        ("POST", "/containers/abc/exec", "/containers/{name}/exec"),
        ("POST", "/exec/abc/start", "/exec/{id}/start"),
        ("GET", "/exec/abc/json", "/exec/{id}/json"),
        ("DELETE", "/containers/abc", "/containers/{name}"),
        ("HEAD", "/_ping", "/_ping"),
    ],
)
async def test_the_table_itself_answers_the_hot_routes(method: str, path: str, route: str) -> None:
    app = _mooraged_app()
    table = RouteTable(r for r in app.router.resources() if not isinstance(r, VersionedPaths))
    found = table.find(method, path)
    assert found is not None and found.route.resource is not None
    assert found.route.resource.canonical == route
    assert found.route.method == method


@pytest.mark.parametrize(
    ("path", "name"),
    [("/containers/a%2Fb/json", "a/b"), ("/containers/100%25/json", "100%")],
)
def test_a_parameter_keeps_an_escaped_slash_and_percent(path: str, name: str) -> None:
    app = _mooraged_app()
    table = RouteTable(r for r in app.router.resources() if not isinstance(r, VersionedPaths))
    found = table.find("GET", URL(path).path_safe)
    assert found is not None
    assert dict(found) == {"name": name}


@pytest.mark.parametrize("path", ["/containers//json", "/containers/{x}/json"])
def test_an_empty_or_braced_segment_is_no_parameter(path: str) -> None:
    app = _mooraged_app()
    table = RouteTable(r for r in app.router.resources() if not isinstance(r, VersionedPaths))
    assert table.find("GET", path) is None


async def test_a_route_the_table_cannot_judge_on_the_walk_is_left_to_aiohttp() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app = make_app()
    app.router.add_get("/things/{a}/{b}", handler)
    # Indexed under "/things/x", which aiohttp's walk tries before "/things".
    app.router.add_get("/things/x/{rest:.*}", handler)
    app.freeze()
    (paths,) = (r for r in app.router.resources() if isinstance(r, VersionedPaths))
    assert paths.lookup("GET", "/things/x/y", None) is None
    found = await paths.find(_request("GET", "/things/x/y"), None)
    assert _outcome(found) == ("/things/x/{rest}", "GET", {"rest": "y"})
    other = paths.lookup("GET", "/things/z/y", None)
    assert other is not None and dict(other) == {"a": "z", "b": "y"}


def test_a_path_no_route_takes_is_left_to_aiohttp() -> None:
    app = _mooraged_app()
    table = RouteTable(r for r in app.router.resources() if not isinstance(r, VersionedPaths))
    assert table.find("GET", "/nosuch") is None
    assert table.find("PUT", "/containers/abc/wait") is None


@pytest.mark.parametrize("general_first", [True, False])
async def test_of_two_routes_that_take_a_path_the_first_registered_wins(
    general_first: bool,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app = make_app()
    routes = ["/things/{a}/{b}", "/things/{a}/x"]
    for route in routes if general_first else reversed(routes):
        app.router.add_get(route, handler)
    app.freeze()
    found = await app.router.resolve(_request("GET", "/v1.41/things/1/x"))
    assert found.route.resource is not None
    assert found.route.resource.canonical == routes[0 if general_first else 1]
    assert dict(found) == ({"a": "1", "b": "x"} if general_first else {"a": "1"})
