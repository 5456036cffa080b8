"""`GET /system/df` (`docker system df`): images, containers, volumes and build cache on disk."""

from __future__ import annotations

from aiohttp import web

from daemon import errors, system_df
from wire.api_versions import VersionRefusal
from wire.system import DiskUsage, disk_usage_at

from ..versioning import api_version
from .common import DAEMON, bool_param, json_reply
from .images import IMAGES
from .presenters import summarize_container


async def disk_usage(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    image_service = request.app[IMAGES]
    lives = sorted(daemon.containers(), key=lambda c: c.model.created, reverse=True)
    usage = await system_df.disk_usage(image_service.images(), lives)
    images = []
    for entry in image_service.list():
        found = usage.images.get(entry["Id"])
        entry["Containers"] = found.containers if found is not None else 0
        entry["SharedSize"] = found.shared_size if found is not None else 0
        images.append(entry)
    containers = [
        summarize_container(
            live,
            size_rw=usage.size_rw.get(live.id, 0),
            size_root_fs=usage.size_root_fs.get(live.id, 0),
        )
        for live in lives
    ]
    reply: DiskUsage = {
        "LayersSize": usage.layers_size,
        "Images": images,
        "Containers": containers,
        "Volumes": await daemon.volumes.usage(),
        "BuildCache": [],
    }
    types = request.query.getall("type", []) if "type" in request.query else None
    try:
        shaped = disk_usage_at(
            reply, api_version(request), types=types, verbose=bool_param(request, "verbose")
        )
    except VersionRefusal as exc:
        raise errors.InvalidParameter(str(exc)) from None
    return json_reply(shaped)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/system/df", disk_usage)
