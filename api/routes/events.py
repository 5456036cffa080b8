"""``GET /events``: the daemon's events, one JSON object per line."""

from __future__ import annotations

from aiohttp import web

from daemon.events import Event, EventsBus, Subscription
from daemon.filters import Filters

from ..streams import StreamingReply

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
    reply = StreamingReply(request)
    try:
        # Headers go out before any event: `docker events` waits on them.
        await reply.start()
        while (event := await reply.race(_next(subscription))) is not None:
            await reply.write_json(event)
    finally:
        subscription.close()
    return await reply.finish()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/events", events)
