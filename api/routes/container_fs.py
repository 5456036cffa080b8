"""A container's filesystem as a whole: `GET /containers/{id}/export` (a tar of its rootfs)
and `GET /containers/{id}/changes` (what it changed, for `docker diff`)."""

from __future__ import annotations

from aiohttp import web

from daemon import changes, export

from ..streams import StreamingReply
from .common import DAEMON, json_reply


async def export_container(request: web.Request) -> web.StreamResponse:
    daemon = request.app[DAEMON]
    async with export.export_container(daemon, request.match_info["name"]) as chunks:
        reply = StreamingReply(request, content_type="application/x-tar")
        await reply.start()
        async for chunk in chunks:
            await reply.write(chunk)
    return await reply.finish()


async def container_changes(request: web.Request) -> web.Response:
    found = await changes.container_changes(request.app[DAEMON], request.match_info["name"])
    # dockerd's list is nil when nothing changed: `null`, not `[]`.
    return json_reply([{"Path": c.path, "Kind": int(c.kind)} for c in found] or None)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/containers/{name}/export", export_container)
    router.add_get("/containers/{name}/changes", container_changes)
