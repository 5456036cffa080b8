"""Reading JSON request bodies into models, with dockerd's 400s for bad input."""

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from daemon.errors import InvalidParameter

from .json_syntax import go_syntax_error

_M = TypeVar("_M", bound=BaseModel)
_DECODER = json.JSONDecoder()


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
    raw = await request.read()
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


def _decode_first_value(raw: bytes) -> Any:
    """The body's first JSON value; what follows it is ignored, as by dockerd's decoder."""
    # Go replaces invalid UTF-8 instead of failing on it.
    text = raw.decode("utf-8", errors="replace")
    try:
        value, _ = _DECODER.raw_decode(text, len(text) - len(text.lstrip(" \t\r\n")))
    except ValueError as exc:
        message = go_syntax_error(raw) or str(exc)
        raise InvalidParameter(f"invalid JSON: {message}") from None
    return value
