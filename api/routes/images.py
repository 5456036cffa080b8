"""Image endpoints: load, save, list, inspect, history, tag, remove, prune, pull, push, auth,
import and commit.

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
from daemon.commit import CommitOptions, commit_container
from daemon.filters import FilterMap, Filters
from daemon.images import progress
from daemon.images.registry.auth import AuthConfig, auth_config_from_json, decode_registry_auth
from daemon.images.service import ImageService
from daemon.system_df import image_usage
from wire.api_versions import (
    IMAGE_PLATFORM_DELETE,
    IMAGE_PLATFORM_HISTORY,
    IMAGE_PLATFORM_INSPECT,
    IMAGE_PLATFORM_PUSH,
    IMAGE_PLATFORM_SAVE,
    IMAGES_FILTER_PARAM_REMOVED,
    IMAGES_SHARED_SIZE,
    Change,
)
from wire.image import AuthResponse, inspect_at, summary_at

from ..body import StreamedBody, read_body
from ..streams import ClientGone, StreamingReply
from ..versioning import api_version
from .common import DAEMON, bool_param, json_reply
from .image_platform import check_platform, platform_params

IMAGES = web.AppKey("images", ImageService)
_NAME = "{name:.+}"


def add_routes(app: web.Application, image_service: ImageService) -> None:
    app[IMAGES] = image_service
    router = app.router
    router.add_post("/images/load", load)
    router.add_get("/images/get", save_all)
    router.add_get("/images/json", list_images)
    router.add_post("/images/prune", prune)
    router.add_post("/images/create", create)
    router.add_post("/auth", auth)
    router.add_post("/commit", commit)
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
    platform_params(request, IMAGE_PLATFORM_SAVE)  # checked; the archive is loaded whole
    messages = service.load(StreamedBody(request), quiet=bool_param(request, "quiet"))
    return await _stream_progress(request, _errors_as_messages(messages))


async def _errors_as_messages(
    messages: AsyncIterator[dict[str, Any]],
) -> AsyncIterator[dict[str, Any]]:
    """dockerd's load always answers 200: even a body that is no archive at all gets
    its error as the stream's message (the SDK raises ImageLoadError from it)."""
    try:
        async for message in messages:
            yield message
    except errors.DaemonError as exc:
        yield progress.error_message(exc.message)
    finally:
        aclose = getattr(messages, "aclose", None)
        if aclose is not None:
            await aclose()


async def save_all(request: web.Request) -> web.StreamResponse:
    """`GET /images/get?names=a&names=b`."""
    platform_params(request, IMAGE_PLATFORM_SAVE)  # checked: several are refused
    return await _save(request, request.query.getall("names", []))


async def save_one(request: web.Request) -> web.StreamResponse:
    _platform_checked(request, IMAGE_PLATFORM_SAVE)
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
    version = api_version(request)
    filters = dict(_filters(request))
    legacy = request.query.get("filter", "")
    if legacy and "reference" not in filters and not IMAGES_FILTER_PARAM_REMOVED.applies(version):
        filters["reference"] = [legacy]
    entries = service.list(all=bool_param(request, "all"), filters=filters)
    shared: dict[str, int] | None = None
    if IMAGES_SHARED_SIZE.applies(version) and bool_param(request, "shared-size"):
        _, usage = image_usage(service.images(), [])
        shared = {image_id: found.shared_size for image_id, found in usage.items()}
    shown = [
        summary_at(
            entry,
            version,
            containers=len(service.users(entry["Id"])),
            shared_size=shared.get(entry["Id"], 0) if shared is not None else None,
        )
        for entry in entries
    ]
    return json_reply(shown)


def _platform_checked(request: web.Request, change: Change, param: str = "platform") -> None:
    """The image named in the path, checked against the platform the request names."""
    wanted = platform_params(request, change, param)
    if wanted:
        name = request.match_info["name"]
        check_platform(name, _service(request).resolve(name), wanted)


async def inspect(request: web.Request) -> web.Response:
    _platform_checked(request, IMAGE_PLATFORM_INSPECT)
    document = _service(request).inspect(request.match_info["name"])
    return json_reply(inspect_at(document, api_version(request)))


async def history(request: web.Request) -> web.Response:
    _platform_checked(request, IMAGE_PLATFORM_HISTORY)
    return json_reply(_service(request).history(request.match_info["name"]))


# -- names ----------------------------------------------------------------------------------


async def tag(request: web.Request) -> web.Response:
    """`POST /images/{name}/tag?repo=&tag=` -> 201, no body."""
    await _service(request).tag(
        request.match_info["name"], request.query.get("repo", ""), request.query.get("tag", "")
    )
    return web.Response(status=201)


async def remove(request: web.Request) -> web.Response:
    _platform_checked(request, IMAGE_PLATFORM_DELETE, "platforms")
    records = await _service(request).delete(
        request.match_info["name"],
        force=bool_param(request, "force"),
        noprune=bool_param(request, "noprune"),
    )
    return json_reply(records)


async def prune(request: web.Request) -> web.Response:
    return json_reply(await _service(request).prune(_filters(request)))


# -- commit ---------------------------------------------------------------------------------


async def commit(request: web.Request) -> web.Response:
    """`POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=` -> 201 {"Id"}."""
    raw = await read_body(request)
    try:
        config = json.loads(raw) if raw.strip() else None
    except ValueError as exc:
        raise errors.InvalidParameter(f"invalid JSON: {exc}") from None
    if config is not None and not isinstance(config, dict):
        raise errors.InvalidParameter("invalid JSON: the config is not an object")
    query = request.query
    options = CommitOptions(
        repo=query.get("repo", ""),
        tag=query.get("tag", ""),
        comment=query.get("comment", ""),
        author=query.get("author", ""),
        changes=query.getall("changes", []),
        # Paused unless asked not to (API 1.13 on).
        pause=bool_param(request, "pause") if query.get("pause", "") else True,
        config=config,
    )
    image_id = await commit_container(
        request.app[DAEMON], _service(request), query.get("container", ""), options
    )
    return json_reply({"Id": image_id}, status=201)


# -- registry -------------------------------------------------------------------------------


async def create(request: web.Request) -> web.StreamResponse:
    """`POST /images/create?fromImage=&tag=&platform=`: a pull; with `fromSrc=-` (and
    `repo`, `tag`, `message`, `changes`) an import of the body."""
    from_image = request.query.get("fromImage", "")
    if not from_image:
        src = request.query.get("fromSrc", "")
        if not src:
            raise errors.InvalidParameter("fromImage or fromSrc is required")
        messages = _service(request).import_image(
            StreamedBody(request),
            src=src,
            repo=request.query.get("repo", ""),
            tag=request.query.get("tag", ""),
            message=request.query.get("message", ""),
            changes=request.query.getall("changes", []),
            platform=request.query.get("platform", ""),
        )
        return await _stream_progress(request, messages)
    messages = _service(request).pull(
        from_image,
        request.query.get("tag", ""),
        platform=request.query.get("platform", ""),
        auth=_registry_auth(request),
    )
    return await _stream_progress(request, messages)


async def push(request: web.Request) -> web.StreamResponse:
    _platform_checked(request, IMAGE_PLATFORM_PUSH)
    messages = _service(request).push(
        request.match_info["name"],
        request.query.get("tag", ""),
        auth=_registry_auth(request),
    )
    return await _stream_progress(request, messages)


async def auth(request: web.Request) -> web.Response:
    """`POST /auth`: check credentials with their registry, as `docker login` does."""
    try:
        document = json.loads(await read_body(request) or b"{}")
    except ValueError as exc:
        raise errors.InvalidParameter(f"invalid auth configuration: {exc}") from None
    if not isinstance(document, dict):
        raise errors.InvalidParameter("invalid auth configuration: not a JSON object")
    config = auth_config_from_json(document)
    _check_server_address(config.serveraddress)
    result = await _service(request).login(config)
    reply: AuthResponse = {
        "IdentityToken": result.get("IdentityToken", ""),
        "Status": result["Status"],
    }
    return json_reply(reply)


def _check_server_address(address: str) -> None:
    """dockerd parses the address as a URL first: a control character is its 400."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in address):
        url = address if address.startswith(("https://", "http://")) else f"https://{address}"
        raise errors.InvalidParameter(
            f"unable to parse server address: parse {_go_quote(url)}: "
            "net/url: invalid control character in URL"
        )


def _go_quote(text: str) -> str:
    """About Go's %q: printable characters as they are, the others escaped."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
             "\t": "\\t", "\v": "\\v", '"': '\\"', "\\": "\\\\"}  # fmt: skip
    out = []
    for c in text:
        if c in named:
            out.append(named[c])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'
