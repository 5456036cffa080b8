"""Container endpoints beyond the lifecycle: top, update and prune."""

from __future__ import annotations

from aiohttp import web

from daemon.container_ops import prune, top
from daemon.filters import Filters
from daemon.update import update_container
from wire.api_versions import UPDATE_PIDS_LIMIT
from wire.container import ContainerUpdateRequest, ContainerUpdateResponse, update_at

from ..body import read_json
from ..versioning import api_version
from .common import DAEMON, json_reply


async def top_handler(request: web.Request) -> web.Response:
    body = await top(
        request.app[DAEMON],
        request.match_info["name"],
        request.query.get("ps_args", ""),
    )
    return json_reply(body)


async def update(request: web.Request) -> web.Response:
    body = await read_json(request, ContainerUpdateRequest)
    update_at(body, api_version(request))
    if not UPDATE_PIDS_LIMIT.applies(api_version(request)):
        body.PidsLimit = None
    elif body.PidsLimit is not None and body.PidsLimit <= 0:
        body.PidsLimit = 0  # 0 and any negative mean unlimited
    warnings = await update_container(request.app[DAEMON], request.match_info["name"], body)
    # Go's nil slice: null when there is nothing to warn about.
    reply: ContainerUpdateResponse = {"Warnings": warnings or None}
    return json_reply(reply)


async def prune_handler(request: web.Request) -> web.Response:
    filters = Filters.from_query(request.query)
    report = await prune(
        request.app[DAEMON],
        filters.as_dict(),
    )
    return json_reply(report)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/containers/{name}/top", top_handler)
    router.add_post("/containers/{name}/update", update)
    router.add_post("/containers/prune", prune_handler)
