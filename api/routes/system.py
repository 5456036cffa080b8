"""System endpoints that need no daemon: ``/_ping``.

``/version``, ``/info`` and ``/events`` join here once the daemon serves them.
"""

from aiohttp import web

# dockerd forbids caching the ping: the client reads the API version from it.
_NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


async def ping(request: web.Request) -> web.Response:
    """``GET /_ping`` -> "OK"; ``HEAD /_ping`` -> empty (the CLI's first call)."""
    if request.method == "HEAD":
        # aiohttp leaves Content-Length out of an empty HEAD reply; dockerd sends 0.
        body, headers = b"", {**_NO_CACHE, "Content-Length": "0"}
    else:
        body, headers = b"OK", _NO_CACHE
    return web.Response(body=body, content_type="text/plain", charset="utf-8", headers=headers)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/_ping", ping)  # HEAD comes with it
