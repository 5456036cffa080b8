"""Turning errors into replies the way dockerd shapes them.

Every error reply is ``{"message": "..."}`` plus a newline, as JSON; the docker
CLI acts on the status code, and prints the message. A 304 has no body.
"""

import json
import logging

from aiohttp import web

from api.streams import JSON_HEADERS, RESPONSE_STARTED, AlreadySentResponse, ClientGone
from daemon import errors

log = logging.getLogger(__name__)

# Checked in order; the first class the error is an instance of wins.
_STATUS_BY_KIND: tuple[tuple[type[errors.DaemonError], int], ...] = (
    (errors.NotModified, 304),
    (errors.InvalidParameter, 400),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.SystemError, 500),
    (errors.NotImplemented, 501),
    (errors.Unavailable, 503),
)

PAGE_NOT_FOUND = "page not found"


def status_for(error: errors.DaemonError) -> int:
    """The HTTP status of a daemon error (500 for an unknown kind)."""
    for kind, status in _STATUS_BY_KIND:
        if isinstance(error, kind):
            return status
    return 500


def error_response(status: int, message: str) -> web.Response:
    """An error reply in dockerd's shape."""
    if status == 304:
        return web.Response(status=304)
    body = json.dumps({"message": message}, separators=(",", ":"), ensure_ascii=False) + "\n"
    # Bytes, not text: aiohttp would add "; charset=utf-8", which dockerd does not.
    return web.Response(status=status, body=body.encode(), headers=JSON_HEADERS)


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _reply_started(request: web.Request) -> bool:
    return request.get(RESPONSE_STARTED, False) or request.writer.output_size > 0


def reply_for_error(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The reply to an exception from a handler (or from routing); re-raises an
    ``HTTPException`` below 400 (aiohttp answers it itself)."""
    if isinstance(exc, errors.DaemonError):
        status = status_for(exc)
        if status >= 500:
            log.error("Handler for %s %s returned error: %s", request.method, request.path, exc)
        else:
            log.debug("Handler for %s %s returned error: %s", request.method, request.path, exc)
        return _reply_or_give_up(request, status, exc.message)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        # dockerd answers a known path with the wrong method like an unknown path.
        if exc.status in (404, 405):
            return error_response(404, PAGE_NOT_FOUND)
        return _reply_or_give_up(request, exc.status, exc.text or exc.reason)
    if isinstance(exc, ClientGone):
        log.debug("client of %s %s went away", request.method, request.path)
        return AlreadySentResponse()
    if isinstance(exc, ConnectionError) and _client_gone(request):
        log.debug("client of %s %s went away: %s", request.method, request.path, exc)
        return AlreadySentResponse()
    log.error("Handler for %s %s failed", request.method, request.path, exc_info=exc)
    return _reply_or_give_up(request, 500, str(exc) or type(exc).__name__)


def _reply_or_give_up(request: web.Request, status: int, message: str) -> web.StreamResponse:
    if _reply_started(request):
        # Headers (or a hijack) already went out; the only signal left is to
        # cut the connection short, which AlreadySentResponse does.
        log.debug("cannot report %d %r: the reply already started", status, message)
        return AlreadySentResponse()
    return error_response(status, message)
