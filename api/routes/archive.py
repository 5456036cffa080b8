"""`docker cp` endpoints: `HEAD`, `GET` and `PUT /containers/{id}/archive?path=`.

The stat of the path travels in the ``X-Docker-Container-Path-Stat`` header as
base64 of its JSON; GET streams the tar after it, PUT reads a tar (plain or
compressed) from the body and answers 200 with nothing else.
"""

from __future__ import annotations

import base64
import json

from aiohttp import web

from daemon import archive, errors
from daemon.containerfs.pathstat import PathStat

from ..body import StreamedBody
from ..streams import StreamingReply
from .common import DAEMON, bool_param

STAT_HEADER = "X-Docker-Container-Path-Stat"


def _ref(request: web.Request) -> str:
    return request.match_info["name"]


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise errors.InvalidParameter("bad parameter: path cannot be empty")
    return path


def _stat_header(stat: PathStat) -> str:
    document = json.dumps(stat.as_json(), separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(document.encode()).decode()


async def head_archive(request: web.Request) -> web.Response:
    stat = await archive.stat_path(request.app[DAEMON], _ref(request), _path(request))
    return web.Response(status=200, headers={STAT_HEADER: _stat_header(stat)})


async def get_archive(request: web.Request) -> web.StreamResponse:
    daemon = request.app[DAEMON]
    async with archive.archive_path(daemon, _ref(request), _path(request)) as source:
        reply = StreamingReply(request, content_type="application/x-tar")
        reply.headers[STAT_HEADER] = _stat_header(source.stat)
        await reply.start()
        async for chunk in source.chunks():
            await reply.write(chunk)
    return await reply.finish()


async def put_archive(request: web.Request) -> web.Response:
    await archive.extract_to_dir(
        request.app[DAEMON],
        _ref(request),
        _path(request),
        StreamedBody(request),
        no_overwrite_dir_non_dir=bool_param(request, "noOverwriteDirNonDir"),
        copy_uid_gid=bool_param(request, "copyUIDGID"),
    )
    return web.Response(status=200)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_route("HEAD", "/containers/{name}/archive", head_archive)
    router.add_get("/containers/{name}/archive", get_archive, allow_head=False)
    router.add_put("/containers/{name}/archive", put_archive)
