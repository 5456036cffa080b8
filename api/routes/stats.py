"""``GET /containers/{id}/stats``: one sample, or one a second while the client listens."""

from __future__ import annotations

from aiohttp import web

from daemon.stats_stream import StatsSampler
from wire.api_versions import STATS_ONE_SHOT
from wire.stats import stats_at

from ..streams import StreamingReply
from ..versioning import api_version
from .common import DAEMON, bool_param, json_reply


async def stats(request: web.Request) -> web.StreamResponse:
    daemon = request.app[DAEMON]
    live = daemon.get(request.match_info["name"])
    sampler = StatsSampler(daemon, live)
    # `stream` defaults to true when it is left out.
    stream = "stream" not in request.query or bool_param(request, "stream")
    version = api_version(request)
    if not stream:
        one_shot = STATS_ONE_SHOT.applies(version) and bool_param(request, "one-shot")
        return json_reply(stats_at(await sampler.once(one_shot), version))
    reply = StreamingReply(request)
    await reply.start()
    samples = sampler.stream()
    try:
        while (sample := await reply.race(anext(samples, None))) is not None:
            await reply.write_json(stats_at(sample, version))
    finally:
        await samples.aclose()
    return await reply.finish()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/containers/{name}/stats", stats)
