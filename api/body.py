"""Reading request bodies: JSON into models, with dockerd's 400s for bad input, and the
streamed uploads (image load and import, build contexts, archive upload) chunk by chunk."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from daemon.errors import InvalidParameter
from libcontainerd import jsonbytes
from wire.json_syntax import go_syntax_error

from .limits import limits_of
from .streams import ClientGone

log = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)
_DECODER = json.JSONDecoder()
_CHUNK = 64 * 1024


def check_json_content_type(request: web.Request) -> None:
    """A body must be JSON; no Content-Type is fine only without a body."""
    content_type = request.headers.get("Content-Type", "")
    if not content_type and not request.body_exists:
        return
    if request.content_type == "application/json":
        return
    raise InvalidParameter(f"Content-Type specified ({content_type}) must be 'application/json'")


async def read_json(request: web.Request, model: type[_M], *, empty_ok: bool = False) -> _M:
    """Parse the body as ``model``; an empty body gives the model's defaults if ``empty_ok``."""
    check_json_content_type(request)
    raw = await read_body(request)
    if not raw.strip():
        if empty_ok:
            return model.model_validate({})
        raise InvalidParameter("invalid JSON: got EOF while reading request body")
    data = _decode_first_value(raw)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or model.__name__
        raise InvalidParameter(f"invalid JSON: {where}: {first['msg']}") from None


async def read_body(request: web.Request) -> bytes:
    """The whole body of a request that carries a small one (JSON, or nothing).

    Over the JSON size limit: a 400, before reading any of it when Content-Length
    tells. Not all there within the body timeout: the connection is dropped
    (``ClientGone``), so a client that trickles its body holds nothing for long.
    """
    limits = limits_of(request)
    limit = limits.json_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    if request.content.is_eof():
        # All of it came with the head (or there is none): no timer to arm.
        whole = await request.content.read()
        if len(whole) > limit:
            raise _too_large(limit)
        return whole
    body = bytearray()
    try:
        async with asyncio.timeout(limits.body_timeout):
            while chunk := await request.content.read(_CHUNK):
                body += chunk
                if len(body) > limit:  # chunked: no length announced
                    raise _too_large(limit)
    except TimeoutError:
        raise _drop(request, "sent its body too slowly") from None
    return bytes(body)


class StreamedBody:
    """The body of a streamed upload, as it arrives: no size limit (dockerd has none;
    an archive is as large as its source), but a client that sends nothing for
    ``upload_idle_timeout`` is dropped, as if it had hung up (``ClientGone``), so that
    whatever the upload holds (a spool, a container's lock, a thread) is freed."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._idle_timeout = limits_of(request).upload_idle_timeout

    async def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes (a chunk when `n` is -1) as soon as some came; b"" at the end."""
        try:
            async with asyncio.timeout(self._idle_timeout):
                return await self._request.content.read(n if n > 0 else _CHUNK)
        except TimeoutError:
            raise _drop(self._request, "stalled in its upload") from None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while chunk := await self.read(_CHUNK):
            yield chunk


def _drop(request: web.Request, why: str) -> ClientGone:
    """Cut the client's connection; the error to raise to the code that read from it."""
    log.info("dropping a client of %s %s that %s", request.method, request.path, why)
    if request.transport is not None:
        request.transport.abort()
    return ClientGone(f"client {why}")


def _too_large(limit: int) -> InvalidParameter:
    return InvalidParameter(
        f"request body too large: a JSON request body may not exceed {limit} bytes"
    )


def _decode_first_value(raw: bytes) -> Any:
    """The body's first JSON value; what follows it is ignored, as by dockerd's decoder."""
    try:
        # A body that is one valid JSON document (all that clients send): orjson, several
        # times faster (issue 13); anything it refuses is read as below.
        return jsonbytes.loads(raw)
    except ValueError:
        pass
    # Go replaces invalid UTF-8 instead of failing on it.
    text = raw.decode("utf-8", errors="replace")
    try:
        value, _ = _DECODER.raw_decode(text, len(text) - len(text.lstrip(" \t\r\n")))
    except ValueError as exc:
        message = go_syntax_error(raw) or str(exc)
        raise InvalidParameter(f"invalid JSON: {message}") from None
    return value
