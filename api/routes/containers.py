"""Container endpoints: create, inspect, list, lifecycle, wait, attach, rename, remove."""

from __future__ import annotations

import asyncio

from aiohttp import web

from daemon import container_list, errors
from daemon.container.detach import parse_detach_keys
from daemon.daemon import Daemon
from daemon.filters import Filters
from daemon.images.service import ImageService
from daemon.images.views import manifest_descriptor
from daemon.network.model import Network
from daemon.system_df import container_sizes
from wire.api_versions import LOGS_MULTIPLEXED_TYPE, STOP_SIGNAL_PARAM, VersionRefusal
from wire.container import (
    ContainerCreateRequest,
    ContainerCreateResponse,
    OCIDescriptor,
    WaitResponse,
    create_at,
    inspect_at,
    summary_at,
)
from wire.network import EndpointSettings

from ..body import read_json
from ..hijack import hijack, stream_content_type
from ..server import unix_socket_paths
from ..stdcopy import Stream, encode_frame
from ..streams import ClientGone, StreamingReply, json_line
from ..versioning import api_version
from .bind_warnings import log_warnings, protected_paths, sensitive_bind_warnings
from .common import DAEMON, AttachEnd, bool_param, int_param, json_reply, pump_attachment
from .images import IMAGES
from .network_settings import apply_network_settings, apply_summary_networks
from .networks import connect_endpoint
from .presenters import inspect_container, summarize_container, summary_json


def _ref(request: web.Request) -> str:
    return request.match_info["name"]


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, ContainerCreateRequest)
    try:
        version_warnings = create_at(body, api_version(request))
    except VersionRefusal as exc:
        raise errors.InvalidParameter(str(exc)) from None
    name = request.query.get("name") or None
    daemon = request.app[DAEMON]
    extra = body.take_extra_endpoints() if daemon.netrt.enabled else {}
    networks = [daemon.networks.get(n) for n in extra]  # dockerd's 404 before the create
    model, warnings = await daemon.create(name, body)
    if extra:
        await _connect_extra(daemon, model.id, list(zip(networks, extra.values(), strict=True)))
    sensitive: list[str] = []
    host_config = model.host_config
    if host_config.get("Binds") or host_config.get("Mounts"):  # (else: 8 stats for nothing)
        config = daemon.config
        protected = protected_paths(config.data_root, unix_socket_paths(config.hosts))
        sensitive = sensitive_bind_warnings(host_config, protected)
        log_warnings(model.id, sensitive)
    reply: ContainerCreateResponse = {
        "Id": model.id,
        "Warnings": [*warnings, *version_warnings, *sensitive],
    }
    return json_reply(reply, status=201)


async def _connect_extra(
    daemon: Daemon, container_id: str, endpoints: list[tuple[Network, EndpointSettings | None]]
) -> None:
    """The networks of a create beyond its NetworkMode's (API 1.44), as a connect each; a
    failure removes the new container, so that a refused create leaves nothing."""
    live = daemon.get(container_id)
    try:
        async with live.lock:
            for network, endpoint in endpoints:
                await connect_endpoint(daemon, network, live, endpoint)
    except BaseException:
        await daemon.remove(container_id, force=True, volumes=True)
        raise


async def inspect(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    live = daemon.get(_ref(request))
    body = inspect_container(live, _manifest(request.app[IMAGES], live.model.image_id))
    apply_network_settings(daemon, live, body)  # networking hook
    return json_reply(inspect_at(body, api_version(request)))


async def list_containers(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    shown = container_list.list_containers(
        daemon.containers(),
        daemon.get,
        daemon.images,
        Filters.from_query(request.query),
        show_all=bool_param(request, "all"),
        limit=int_param(request, "limit", 0) or 0,
    )
    sizes: dict[str, int] = {}
    version = api_version(request)
    images = request.app[IMAGES]
    if bool_param(request, "size"):
        # Only on request: it walks each container's writable layer.
        sizes = await container_sizes(shown)
    # Per image, not per container: resolving an image id was half of a list of 200
    # containers of one image (issue 13's profile).
    manifests: dict[str, OCIDescriptor | None] = {}
    for live in shown:
        image_id = live.model.image_id
        if image_id not in manifests:
            manifests[image_id] = _manifest(images, image_id)
    if not sizes and not daemon.netrt.enabled:
        # Nothing of the request's own to add to the entries: each one's bytes, kept.
        body = b",".join(
            summary_json(live, version, manifests[live.model.image_id]) for live in shown
        )
        return web.Response(body=b"[" + body + b"]\n", content_type="application/json")
    result = []
    for live in shown:
        image_id = live.model.image_id
        size_rw = sizes.get(live.id, 0)
        size_root_fs = size_rw + _image_size(images, image_id) if sizes else 0
        entry = summarize_container(
            live, size_rw=size_rw, size_root_fs=size_root_fs, manifest=manifests[image_id]
        )
        apply_summary_networks(daemon, live, entry)  # networking hook
        result.append(summary_at(entry, version, live.model.state.health))
    return json_reply(result)


def _manifest(images: ImageService, image_id: str) -> OCIDescriptor | None:
    try:
        return manifest_descriptor(images.resolve(image_id))
    except errors.NotFound:
        return None  # the image was removed (forced) after the container's creation


def _image_size(images: ImageService, image_id: str) -> int:
    try:
        return images.resolve(image_id).size
    except errors.NotFound:
        return 0


async def start(request: web.Request) -> web.Response:
    await request.app[DAEMON].start(_ref(request))
    return web.Response(status=204)


async def stop(request: web.Request) -> web.Response:
    timeout = int_param(request, "t", None)
    signal = (
        request.query.get("signal") if STOP_SIGNAL_PARAM.applies(api_version(request)) else None
    )
    await request.app[DAEMON].stop(_ref(request), timeout, signal or None)
    return web.Response(status=204)


async def restart(request: web.Request) -> web.Response:
    signal = (
        request.query.get("signal") if STOP_SIGNAL_PARAM.applies(api_version(request)) else None
    )
    await request.app[DAEMON].restart(_ref(request), int_param(request, "t", None), signal or None)
    return web.Response(status=204)


async def kill(request: web.Request) -> web.Response:
    await request.app[DAEMON].kill(_ref(request), request.query.get("signal") or None)
    return web.Response(status=204)


async def pause(request: web.Request) -> web.Response:
    await request.app[DAEMON].pause(_ref(request))
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.Response:
    await request.app[DAEMON].unpause(_ref(request))
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    request.app[DAEMON].rename(_ref(request), request.query.get("name", ""))
    return web.Response(status=204)


async def resize(request: web.Request) -> web.Response:
    height, width = int_param(request, "h", 0), int_param(request, "w", 0)
    await request.app[DAEMON].resize(_ref(request), height or 0, width or 0)
    return web.Response(status=200)


async def remove(request: web.Request) -> web.Response:
    await request.app[DAEMON].remove(
        _ref(request), force=bool_param(request, "force"), volumes=bool_param(request, "v")
    )
    return web.Response(status=204)


async def remove_link(request: web.Request) -> web.Response:
    """DELETE /containers/{parent}/{alias}?link=1: a legacy link's name is a path."""
    parent, alias = request.match_info["parent"], request.match_info["alias"]
    if not bool_param(request, "link"):
        raise errors.NotFound(f"No such container: {parent}/{alias}")
    request.app[DAEMON].remove_link(parent, alias)
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    daemon = request.app[DAEMON]
    ref = _ref(request)
    waiter = daemon.waiter(ref, request.query.get("condition", ""))
    reply = StreamingReply(request)
    try:
        await reply.start()
        # A container that is not running already (a wait after kill or stop): its code
        # at once, without the race's two tasks (issue 13).
        code = waiter.result() if waiter.done() else await reply.race(_shielded(waiter))
    except ClientGone:
        daemon.forget_waiter(ref, waiter)
        raise
    body: WaitResponse = {"Error": None, "StatusCode": code}
    return await reply.finish(json_line(body))


async def _shielded(waiter: asyncio.Future[int]) -> int:
    # The waiter belongs to the state machine: a client leaving must not cancel it.
    return await asyncio.shield(waiter)


async def attach(request: web.Request) -> web.StreamResponse:
    daemon = request.app[DAEMON]
    # dockerd checks the keys first, before it looks the container up.
    keys_spec = request.query.get("detachKeys", "")
    try:
        detach_keys = parse_detach_keys(keys_spec)
    except ValueError:
        raise errors.InvalidParameter(f"Invalid detach keys ({keys_spec}) provided") from None
    want_stdin = bool_param(request, "stdin")
    live, attachment = daemon.attach(
        _ref(request), bool_param(request, "stdout"), bool_param(request, "stderr")
    )
    tty = live.model.tty
    replay = None
    if bool_param(request, "logs"):
        _, replay = daemon.logs(
            live.id,
            stdout=attachment.stdout,
            stderr=attachment.stderr,
            follow=False,
            since=None,
            until=None,
            tail=None,
        )
    try:
        conn = await hijack(request, content_type=stream_content_type(api_version(request), tty))
        async with conn:
            if replay is not None:
                try:
                    async for entry in replay:
                        frame = _FRAME[entry.stream]
                        await conn.write(entry.data if tty else encode_frame(frame, entry.data))
                except ClientGone:
                    return conn.response
                finally:
                    await replay.aclose()
            if not bool_param(request, "stream"):
                return conn.response
            stdin_once = bool(live.model.config.get("StdinOnce"))
            stdin = want_stdin and bool(live.model.config.get("OpenStdin"))
            end = await pump_attachment(
                conn,
                attachment,
                tty,
                live.hub if stdin else None,
                close_stdin_at_eof=stdin_once,
                terminal=tty,
                detach_keys=detach_keys,
            )
            if end is AttachEnd.DETACHED:
                daemon.container_event(live, "detach")
        return conn.response
    finally:
        live.hub.detach(attachment)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/containers/create", create)
    router.add_get("/containers/json", list_containers)
    router.add_get("/containers/{name}/json", inspect)
    router.add_post("/containers/{name}/start", start)
    router.add_post("/containers/{name}/stop", stop)
    router.add_post("/containers/{name}/restart", restart)
    router.add_post("/containers/{name}/kill", kill)
    router.add_post("/containers/{name}/pause", pause)
    router.add_post("/containers/{name}/unpause", unpause)
    router.add_post("/containers/{name}/rename", rename)
    router.add_post("/containers/{name}/resize", resize)
    router.add_post("/containers/{name}/wait", wait)
    router.add_post("/containers/{name}/attach", attach)
    router.add_delete("/containers/{name}", remove)
    router.add_delete("/containers/{parent}/{alias}", remove_link)
    router.add_get("/containers/{name}/logs", logs)


def _time_param(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name, "")
    if raw in ("", "0"):
        return None
    try:
        return float(raw)
    except ValueError:
        raise errors.InvalidParameter(f"invalid value for {name}: {raw!r}") from None


async def logs(request: web.Request) -> web.StreamResponse:
    tail_raw = request.query.get("tail", "all")
    tail = None if tail_raw in ("", "all") else int_param(request, "tail", None)
    live, entries = request.app[DAEMON].logs(
        _ref(request),
        stdout=bool_param(request, "stdout"),
        stderr=bool_param(request, "stderr"),
        follow=bool_param(request, "follow"),
        since=_time_param(request, "since"),
        until=_time_param(request, "until"),
        tail=tail,
    )
    timestamps = bool_param(request, "timestamps")
    tty = live.model.tty
    version = api_version(request)
    # dockerd 20.10 labelled log streams not at all; from 1.42 like hijacked streams.
    content_type = (
        stream_content_type(version, tty) if LOGS_MULTIPLEXED_TYPE.applies(version) else None
    )
    reply = StreamingReply(request, content_type=content_type)

    async def copy() -> None:
        async for entry in entries:
            data = entry.data
            if timestamps:
                data = entry.timestamp().encode() + b" " + data
            await reply.write(data if tty else encode_frame(_FRAME[entry.stream], data))

    try:
        await reply.start()
        # Raced with the client leaving: a follower of a silent container has no
        # write that could fail, and would hold its log files open until new output.
        await reply.race(copy())
    finally:
        await entries.aclose()
    return await reply.finish()


_FRAME = {"stdout": Stream.STDOUT, "stderr": Stream.STDERR}
