"""What every request goes through around its handler, in one middleware, and the headers
every reply gets.

In order: the API version is checked and recorded (``api.versioning.check_version``),
the handler runs, an exception becomes dockerd's error reply (``api.errors``), and the
final status and the time taken are handed to the `observe` callback (the metrics) with
the route's pattern. One coroutine layer instead of one per concern: each aiohttp
middleware is a coroutine and a partial around the next (issue 13).

Every reply gets ``COMMON_HEADERS`` from an ``on_response_prepare`` hook (a hook, not the
middleware, so that streamed replies, whose headers go out inside the handler, get them
too); a reply marked ``OMIT_CONTENT_TYPE`` loses the Content-Type aiohttp adds to bodies.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from api.errors import reply_for_error
from api.streams import OMIT_CONTENT_TYPE
from api.versioning import COMMON_HEADERS, CURRENT_API_VERSION, ApiVersion, check_version

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (method, route pattern, status, seconds) of each request, once it is answered.
RequestObserver = Callable[[str, str, int, float], None]


def route_of(request: web.Request) -> str:
    """The route's pattern, not the path: ids and names must not become label values."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def api_middleware(
    min_version: ApiVersion,
    max_version: ApiVersion = CURRENT_API_VERSION,
    observe: RequestObserver | None = None,
) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        code = 500  # what an exception that escapes counts as
        response: web.StreamResponse
        try:
            try:
                refusal = check_version(request, min_version, max_version)
                response = await handler(request) if refusal is None else refusal
            except Exception as exc:
                response = reply_for_error(request, exc)
            code = response.status
            return response
        except web.HTTPException as exc:  # below 400: aiohttp answers it
            code = exc.status
            raise
        finally:
            if observe is not None:
                observe(request.method, route_of(request), code, time.monotonic() - started)

    return middleware


async def add_common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook (see the module's doc)."""
    headers = response.headers
    # Overwrites the Server header aiohttp set just before this hook runs.
    headers.update(COMMON_HEADERS)
    if response.get(OMIT_CONTENT_TYPE):
        headers.popall("Content-Type", None)
