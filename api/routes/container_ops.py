"""Container endpoints beyond the lifecycle: top, update and prune."""

from __future__ import annotations

import json

from aiohttp import web

from daemon.container_ops import prune, top
from daemon.filters import Filters
from daemon.update import update_container

from ..body import read_json
from ..models.container import ContainerUpdateRequest
from ..versioning import ApiVersion, api_version
from .common import DAEMON, json_reply
from .events import EVENTS

# Older clients' PidsLimit is not theirs to update (dockerd ignores it below 1.40).
_PIDS_LIMIT_VERSION = ApiVersion(1, 40)


async def top_handler(request: web.Request) -> web.Response:
    body = await top(
        request.app[DAEMON],
        request.match_info["name"],
        request.query.get("ps_args", ""),
        request.app[EVENTS],
    )
    return json_reply(dict(body))


async def update(request: web.Request) -> web.Response:
    body = await read_json(request, ContainerUpdateRequest)
    data = json.loads(body.model_dump_json(by_alias=True))
    pids = data.get("PidsLimit")
    if api_version(request) < _PIDS_LIMIT_VERSION:
        data["PidsLimit"] = None
    elif pids is not None and pids <= 0:
        data["PidsLimit"] = 0  # 0 and any negative mean unlimited
    warnings = await update_container(
        request.app[DAEMON], request.match_info["name"], data, request.app[EVENTS]
    )
    # Go's nil slice: null when there is nothing to warn about.
    return json_reply({"Warnings": warnings or None})


async def prune_handler(request: web.Request) -> web.Response:
    filters = Filters.from_query(request.query)
    report = await prune(
        request.app[DAEMON],
        filters.as_dict(),
        request.app[EVENTS],
    )
    return json_reply(report)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/containers/{name}/top", top_handler)
    router.add_post("/containers/{name}/update", update)
    router.add_post("/containers/prune", prune_handler)
