"""Volume endpoints: list, inspect, create, remove, prune (moorage has no volumes yet;
see ``daemon/volumes.py``)."""

from __future__ import annotations

from aiohttp import web

from daemon import volumes
from daemon.filters import Filters
from wire.volume import VolumeCreateRequest, VolumeListResponse

from ..body import read_json
from .common import json_reply

_LIST_FILTERS = {"dangling", "driver", "label", "name"}
_PRUNE_FILTERS = {"label", "label!", "all"}


def _name(request: web.Request) -> str:
    return request.match_info["name"]


async def list_volumes(request: web.Request) -> web.Response:
    Filters.from_query(request.query).validate(_LIST_FILTERS)
    reply: VolumeListResponse = {"Volumes": volumes.list_volumes(), "Warnings": None}
    return json_reply(reply)


async def inspect(request: web.Request) -> web.Response:
    return json_reply(volumes.get_volume(_name(request)))


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, VolumeCreateRequest, empty_ok=True)
    return json_reply(volumes.create_volume(body.Name, body.Driver or "local"), status=201)


async def remove(request: web.Request) -> web.Response:
    volumes.remove_volume(_name(request))
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    Filters.from_query(request.query).validate(_PRUNE_FILTERS)
    return json_reply(volumes.prune_volumes())


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/volumes", list_volumes)
    router.add_post("/volumes/create", create)
    router.add_post("/volumes/prune", prune)
    router.add_get("/volumes/{name}", inspect)
    router.add_delete("/volumes/{name}", remove)
