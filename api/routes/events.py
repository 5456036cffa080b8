"""``GET /events``: the daemon's events, one JSON object per line."""

from __future__ import annotations

from aiohttp import web

from daemon.events import Event, EventsBus, Subscription
from daemon.filters import Filters
from wire.events import JSON_SEQ, events_content_type

from ..streams import StreamingReply, json_line
from ..versioning import api_version

EVENTS = web.AppKey("events", EventsBus)


async def _next(subscription: Subscription) -> Event | None:
    # None at the end, so that the caller can race it like any other awaitable.
    try:
        return await anext(subscription)
    except StopAsyncIteration:
        return None


async def events(request: web.Request) -> web.StreamResponse:
    filters = Filters.from_query(request.query)
    subscription = request.app[EVENTS].subscribe(
        request.query.get("since") or None,
        request.query.get("until") or None,
        filters.as_dict(),
    )
    version = api_version(request)
    content_type = events_content_type(version, request.headers.get("Accept", ""))
    separator = b"\x1e" if content_type == JSON_SEQ else b""
    reply = StreamingReply(request, content_type=content_type)
    try:
        # Headers go out before any event: `docker events` waits on them.
        await reply.start()
        while (event := await reply.race(_next(subscription))) is not None:
            await reply.write(separator + json_line(event))
    finally:
        subscription.close()
    return await reply.finish()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/events", events)
