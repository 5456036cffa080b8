"""A request's way through the API server, from its parsed head to its reply.

The connection handler (``api.connection.ApiConnection``, aiohttp's ``RequestHandler``
with one task per request: parsing, keep-alive, the request object) hands each request
to ``Dispatcher``, which stands where ``web.Application``'s own handler would and does,
in one coroutine:

1. the route: ``api.versioning.VersionedPaths.lookup`` (the route table, with or
   without the version prefix), then aiohttp's walk for the rest (its 404s and 405s);
2. ``Expect: 100-continue``, as aiohttp's application answers it;
3. the API version, checked and recorded (``api.versioning.check_version``);
4. the handler; an exception becomes dockerd's error reply (``api.errors``);
5. the final status and the time taken go to the `observe` callback (the metrics), with
   the route's pattern;
6. the reply: a plain one is written at once (``api.reply.write_plain``), any other goes
   back to aiohttp to prepare and write (streams, hijacks).

Why not the application's handler with a middleware: for each request it resolves through
the whole router before a versioned path reaches the table, wraps the handler in a partial
per middleware, adds aiohttp's own middleware for sub-applications, and sends the reply
through the prepare signal; together about a third of a small request's CPU (issue 13).
The application stays what holds the routes, the app keys, the startup and cleanup hooks
and the ``on_response_prepare`` hook; ``api.limits.ApiRunner`` puts the dispatcher in
front of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

from aiohttp import hdrs, web
from aiohttp.abc import AbstractMatchInfo
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from api.errors import reply_for_error
from api.reply import add_common_headers, write_plain
from api.versioning import (
    CURRENT_API_VERSION,
    ApiVersion,
    VersionedPaths,
    check_version,
    version_of,
)

# (method, route pattern, status, seconds) of each request, once it is answered.
RequestObserver = Callable[[str, str, int, float], None]


def route_of(request: web.Request) -> str:
    """The route's pattern, not the path: ids and names must not become label values."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


class Dispatcher:
    """The request handler of `app`'s server (see the module's doc)."""

    def __init__(
        self,
        app: web.Application,
        paths: VersionedPaths,
        min_version: ApiVersion,
        max_version: ApiVersion = CURRENT_API_VERSION,
        observe: RequestObserver | None = None,
    ) -> None:
        self._app = app
        self._paths = paths
        self._min_version = min_version
        self._max_version = max_version
        self._observe = observe
        # Whether the common headers are the only hook replies need (then write_plain
        # adds them itself): known once the application is frozen, before any request.
        self._plain: bool | None = None

    async def __call__(self, base_request: web.BaseRequest) -> web.StreamResponse:
        # The server's request factory is the application's: its requests are web.Requests.
        request = cast(web.Request, base_request)
        version = version_of(request)
        # The table's answer at once (no coroutine); aiohttp's walk for the rest.
        match_info: AbstractMatchInfo | None = self._paths.lookup(
            request.method, request.rel_url.path_safe, version
        )
        if match_info is None:
            match_info = await self._paths.walk(request)
        match_info.add_app(self._app)
        match_info.freeze()
        # What the application's handler sets too; the router's match infos (its errors'
        # included) are all UrlMappingMatchInfo.
        request._match_info = cast(UrlMappingMatchInfo, match_info)

        if request.headers.get(hdrs.EXPECT):
            expected = await match_info.expect_handler(request)
            await request.writer.drain()
            if expected is not None:
                return expected

        started = time.monotonic()
        code = 500  # what an exception that escapes counts as
        response: web.StreamResponse
        try:
            try:
                refusal = check_version(request, version, self._min_version, self._max_version)
                if refusal is None:
                    response = await match_info.handler(request)
                else:
                    response = refusal
            except Exception as exc:
                response = reply_for_error(request, exc)
            code = response.status
        except web.HTTPException as exc:  # below 400: aiohttp answers it
            code = exc.status
            raise
        finally:
            if self._observe is not None:
                seconds = time.monotonic() - started
                self._observe(request.method, route_of(request), code, seconds)
        plain = self._plain
        if plain is None:
            plain = self._plain = list(self._app.on_response_prepare) == [add_common_headers]
        return write_plain(request, response) if plain else response


DISPATCHER = web.AppKey("moorage_dispatcher", Dispatcher)


def install(
    app: web.Application,
    paths: VersionedPaths,
    min_version: ApiVersion,
    observe: RequestObserver | None = None,
) -> None:
    """Give `app` its dispatcher (its server takes it: ``api.limits.ApiRunner``) and the
    hook that adds the common headers to the replies aiohttp prepares."""
    app[DISPATCHER] = Dispatcher(app, paths, min_version, observe=observe)
    app.on_response_prepare.append(add_common_headers)
