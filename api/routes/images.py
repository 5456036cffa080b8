"""Image endpoints: load, save, list, inspect, history, tag, remove, prune, pull, push, auth.

Names may hold slashes and a registry port (`localhost:5000/x/y:tag`), so the
`{name}` of these routes is greedy, as dockerd's router pattern is. Streamed
replies (load, pull, push) are JSON messages; an error before the first one is
an ordinary error reply with its status, one after it ends the stream as an
error message, which the CLI prints. Save streams a tar; an error after its
first bytes can only cut the connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from daemon import errors
from daemon.filters import FilterMap, Filters
from daemon.images import progress
from daemon.images.registry.auth import AuthConfig, auth_config_from_json, decode_registry_auth
from daemon.images.service import ImageService
from wire.image import AuthResponse

from ..streams import ClientGone, StreamingReply
from .common import bool_param, json_reply

IMAGES = web.AppKey("images", ImageService)
_NAME = "{name:.+}"
_CHUNK = 64 * 1024


def add_routes(app: web.Application, image_service: ImageService) -> None:
    app[IMAGES] = image_service
    router = app.router
    router.add_post("/images/load", load)
    router.add_get("/images/get", save_all)
    router.add_get("/images/json", list_images)
    router.add_post("/images/prune", prune)
    router.add_post("/images/create", create)
    router.add_post("/auth", auth)
    router.add_get(f"/images/{_NAME}/get", save_one)
    router.add_get(f"/images/{_NAME}/json", inspect)
    router.add_get(f"/images/{_NAME}/history", history)
    router.add_post(f"/images/{_NAME}/tag", tag)
    router.add_post(f"/images/{_NAME}/push", push)
    router.add_delete(f"/images/{_NAME}", remove)


def _service(request: web.Request) -> ImageService:
    return request.app[IMAGES]


def _filters(request: web.Request) -> FilterMap:
    parsed = Filters.from_query(request.query)
    return {key: parsed.get(key) for key in parsed.keys()}  # noqa: SIM118 (not a dict)


def _registry_auth(request: web.Request) -> AuthConfig | None:
    try:
        return decode_registry_auth(request.headers.get("X-Registry-Auth"))
    except ValueError as exc:
        raise errors.InvalidParameter(str(exc)) from None


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(_CHUNK):
        yield chunk


async def _first_or_none(messages: AsyncIterator[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return await messages.__anext__()
    except StopAsyncIteration:
        return None


async def _stream_progress(
    request: web.Request, messages: AsyncIterator[dict[str, Any]]
) -> web.StreamResponse:
    first = await _first_or_none(messages)  # an error here is a plain error reply
    reply = StreamingReply(request)
    await reply.start()
    try:
        if first is not None:
            await reply.write(progress.encode(first))
            async for message in messages:
                await reply.write(progress.encode(message))
    except ClientGone:
        raise  # the finally below cancels the operation
    except errors.DaemonError as exc:
        await reply.write(progress.encode(progress.error_message(exc.message)))
    except Exception as exc:
        await reply.write(progress.encode(progress.error_message(str(exc) or type(exc).__name__)))
    finally:
        aclose = getattr(messages, "aclose", None)
        if aclose is not None:
            await aclose()
    return await reply.finish()


# -- load / save ------------------------------------------------------------------------


async def load(request: web.Request) -> web.StreamResponse:
    """`POST /images/load?quiet=`: the body is the archive."""
    service = _service(request)
    return await _stream_progress(
        request, service.load(_body(request), quiet=bool_param(request, "quiet"))
    )


async def save_all(request: web.Request) -> web.StreamResponse:
    """`GET /images/get?names=a&names=b`."""
    return await _save(request, request.query.getall("names", []))


async def save_one(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    chunks = _service(request).save(names)
    try:
        first = await chunks.__anext__()  # unknown names: a plain error reply
    except StopAsyncIteration:
        first = b""
    reply = StreamingReply(request, content_type="application/x-tar")
    await reply.start()
    try:
        await reply.write(first)
        async for chunk in chunks:
            await reply.write(chunk)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    return await reply.finish()


# -- list, inspect, history ---------------------------------------------------------------


async def list_images(request: web.Request) -> web.Response:
    service = _service(request)
    return json_reply(service.list(all=bool_param(request, "all"), filters=_filters(request)))


async def inspect(request: web.Request) -> web.Response:
    return json_reply(_service(request).inspect(request.match_info["name"]))


async def history(request: web.Request) -> web.Response:
    return json_reply(_service(request).history(request.match_info["name"]))


# -- names ----------------------------------------------------------------------------------


async def tag(request: web.Request) -> web.Response:
    """`POST /images/{name}/tag?repo=&tag=` -> 201, no body."""
    await _service(request).tag(
        request.match_info["name"], request.query.get("repo", ""), request.query.get("tag", "")
    )
    return web.Response(status=201)


async def remove(request: web.Request) -> web.Response:
    records = await _service(request).delete(
        request.match_info["name"],
        force=bool_param(request, "force"),
        noprune=bool_param(request, "noprune"),
    )
    return json_reply(records)


async def prune(request: web.Request) -> web.Response:
    return json_reply(await _service(request).prune(_filters(request)))


# -- registry -------------------------------------------------------------------------------


async def create(request: web.Request) -> web.StreamResponse:
    """`POST /images/create?fromImage=&tag=&platform=`: a pull (imports are not supported)."""
    from_image = request.query.get("fromImage", "")
    if not from_image:
        if request.query.get("fromSrc"):
            raise errors.InvalidParameter("importing a root filesystem (fromSrc) is not supported")
        raise errors.InvalidParameter("fromImage or fromSrc is required")
    messages = _service(request).pull(
        from_image,
        request.query.get("tag", ""),
        platform=request.query.get("platform", ""),
        auth=_registry_auth(request),
    )
    return await _stream_progress(request, messages)


async def push(request: web.Request) -> web.StreamResponse:
    messages = _service(request).push(
        request.match_info["name"],
        request.query.get("tag", ""),
        auth=_registry_auth(request),
    )
    return await _stream_progress(request, messages)


async def auth(request: web.Request) -> web.Response:
    """`POST /auth`: check credentials with their registry, as `docker login` does."""
    try:
        document = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise errors.InvalidParameter(f"invalid auth configuration: {exc}") from None
    if not isinstance(document, dict):
        raise errors.InvalidParameter("invalid auth configuration: not a JSON object")
    result = await _service(request).login(auth_config_from_json(document))
    reply: AuthResponse = {
        "IdentityToken": result.get("IdentityToken", ""),
        "Status": result["Status"],
    }
    return json_reply(reply)
