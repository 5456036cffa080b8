"""Volume endpoints: list, inspect, create, remove, prune (the service is
``daemon/volumes/``)."""

from __future__ import annotations

from aiohttp import web

from daemon.filters import Filters
from wire.api_versions import VOLUME_PRUNE_ANONYMOUS
from wire.volume import VolumeCreateRequest, VolumeListResponse

from ..body import read_json
from ..versioning import api_version
from .common import DAEMON, bool_param, json_reply

_LIST_FILTERS = {"dangling", "driver", "label", "name"}
_PRUNE_FILTERS = {"label", "label!"}


def _name(request: web.Request) -> str:
    return request.match_info["name"]


async def list_volumes(request: web.Request) -> web.Response:
    filters = Filters.from_query(request.query)
    filters.validate(_LIST_FILTERS)
    volumes = request.app[DAEMON].volumes.list_volumes(filters)
    reply: VolumeListResponse = {"Volumes": volumes, "Warnings": None}
    return json_reply(reply)


async def inspect(request: web.Request) -> web.Response:
    service = request.app[DAEMON].volumes
    return json_reply(service.inspect(service.get(_name(request))))


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, VolumeCreateRequest, empty_ok=True)
    service = request.app[DAEMON].volumes
    record = service.create(body.Name, body.Driver, body.DriverOpts, body.Labels)
    return json_reply(service.inspect(record), status=201)


async def remove(request: web.Request) -> web.Response:
    request.app[DAEMON].volumes.remove(_name(request), force=bool_param(request, "force"))
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    filters = Filters.from_query(request.query)
    anonymous_only = False
    if VOLUME_PRUNE_ANONYMOUS.applies(api_version(request)):
        filters.validate(_PRUNE_FILTERS | {"all"})
        anonymous_only = not filters.get_bool("all", False)
    else:
        filters.validate(_PRUNE_FILTERS)
    service = request.app[DAEMON].volumes
    return json_reply(await service.prune(filters, anonymous_only=anonymous_only))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/volumes", list_volumes)
    router.add_post("/volumes/create", create)
    router.add_post("/volumes/prune", prune)
    router.add_get("/volumes/{name}", inspect)
    router.add_delete("/volumes/{name}", remove)
