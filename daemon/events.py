"""The daemon's event bus, behind ``GET /events``.

Events are ``wire.events.EventMessage`` dicts, ordered like dockerd 20.10's JSON. The bus
keeps the last 256 (as dockerd does) so that a subscriber can ask for a
``since``/``until`` window of the past, then receive live events until
``until`` passes or it is closed.

A subscriber that falls behind must not hold up the daemon: each has a
bounded queue, and one that overflows is dropped. Its iterator yields what
was queued and then ends, with `Subscription.overflowed` set, so the API
closes that stream (dockerd instead drops single events for a slow reader,
which would let a client miss a ``die`` without knowing).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING

from daemon import errors
from daemon.filters import FilterMap, match_exact, match_kv, match_prefix
from daemon.images.reference import InvalidReferenceError, parse_normalized_named
from daemon.timefmt import parse_event_time
from wire.events import EventMessage

if TYPE_CHECKING:
    pass

EVENTS_LIMIT = 256
QUEUE_LIMIT = 1024

Event = EventMessage
# Types that carry the pre-1.22 fields status/id(/from).
_LEGACY_TYPES = frozenset({"container", "image"})
# Filter keys matched against the actor's ID or its "name" attribute, by prefix.
_NAMED_ACTORS = (
    "daemon",
    "container",
    "plugin",
    "volume",
    "network",
    "node",
    "service",
    "secret",
    "config",
)
# Actions that come with a suffix ("exec_start: sh"), so a filter on them matches a prefix.
_PREFIX_ACTIONS = frozenset({"health_status", "exec_create", "exec_start"})


def container_attributes(
    name: str, image: str, labels: Mapping[str, str], extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A container event's actor attributes: `extra`, then labels, image and name over them."""
    attributes = dict(extra or {})
    attributes.update(labels)
    if image:
        attributes["image"] = image
    attributes["name"] = name.lstrip("/")
    return attributes


def event_matches(event: Event, filters: FilterMap) -> bool:
    """dockerd's event filter: every key given must match (values of one key are alternatives)."""
    actor = event["Actor"]
    actor_id = actor["ID"]
    attributes = actor["Attributes"]
    action = event["Action"]

    wanted_actions = filters.get("event") or ()
    if any(value in _PREFIX_ACTIONS for value in wanted_actions):
        if not match_prefix(filters, "event", action):
            return False
    elif not match_exact(filters, "event", action):
        return False
    if not match_exact(filters, "type", event["Type"]):
        return False
    if not match_exact(filters, "scope", event.get("scope", "")):
        return False
    for key in _NAMED_ACTORS:
        if not (
            match_prefix(filters, key, actor_id)
            or match_prefix(filters, key, attributes.get("name", ""))
        ):
            return False
    return _match_image(filters, event, actor_id, attributes) and match_kv(
        filters, "label", attributes
    )


class Subscription:
    """Events for one client: the past ones asked for, then live ones until it ends."""

    def __init__(
        self,
        bus: EventsBus | None,
        past: list[Event],
        match: Callable[[Event], bool],
        until_ns: int | None,
        limit: int,
    ) -> None:
        self._bus = bus
        self._pending: deque[Event] = deque(past)
        self._match = match
        self._until_ns = until_ns
        self._limit = limit + len(past)
        self._wakeup = asyncio.Event()
        self._ended = bus is None
        self._timer: asyncio.TimerHandle | None = None
        self.overflowed = False
        # Set once its reader is done with it (closed it, or read to its end).
        self.consumed = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while not self._pending:
            if self._ended:
                self.consumed.set()
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._pending.popleft()

    def close(self) -> None:
        """Stop at once, dropping what is queued."""
        self._pending.clear()
        self._end()
        self.consumed.set()

    def _start_timer(self, delay: float) -> None:
        self._timer = asyncio.get_running_loop().call_later(delay, self._end)

    def _offer(self, event: Event) -> None:
        if self._ended or not self._match(event):
            return
        # The timer may fire a little after `until`; what came later is not asked for.
        if self._until_ns is not None and event["timeNano"] > self._until_ns:
            return
        if len(self._pending) >= self._limit:
            self.overflowed = True
            self._end()
            return
        self._pending.append(event)
        self._wakeup.set()

    def _end(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._bus is not None:
            self._bus._unsubscribe(self)
            self._bus = None
        self._ended = True
        self._wakeup.set()


class EventsBus:
    """One per daemon; used from the event loop's thread only (subscribers wake through it)."""

    def __init__(self, *, history: int = EVENTS_LIMIT, queue_limit: int = QUEUE_LIMIT) -> None:
        self._history: deque[Event] = deque(maxlen=history)
        self._subscribers: list[Subscription] = []
        self._closed: list[Subscription] = []  # ended by close(), perhaps still being read
        self._queue_limit = queue_limit

    def publish(
        self,
        type: str,
        action: str,
        actor_id: str,
        attributes: Mapping[str, str] | None = None,
        scope: str = "local",
    ) -> Event:
        """Record an event and hand it to every matching subscriber; returns it.

        The dict is shared by all subscribers: nobody may change it.
        """
        now = time.time_ns()
        # Go writes map keys sorted.
        attrs = dict(sorted((attributes or {}).items()))
        event: Event = {}  # type: ignore[typeddict-item]  # filled in dockerd's key order
        if type in _LEGACY_TYPES:
            event["status"] = action
            if actor_id:
                event["id"] = actor_id
            if type == "container" and attrs.get("image"):
                event["from"] = attrs["image"]
        event["Type"] = type
        event["Action"] = action
        event["Actor"] = {"ID": actor_id, "Attributes": attrs}
        if scope:
            event["scope"] = scope
        event["time"] = now // 1_000_000_000
        event["timeNano"] = now
        self._history.append(event)
        for subscriber in list(self._subscribers):
            subscriber._offer(event)
        return event

    def subscribe(
        self,
        since: str | float | None = None,
        until: str | float | None = None,
        filters: FilterMap | None = None,
    ) -> Subscription:
        """Past events in [since, until] that match, then live ones until `until`.

        Without `since` and `until` there is no past, only live events. With an
        `until` already gone, only the past. InvalidParameter for bad times.
        """
        since_ns = parse_event_time(since)
        until_ns = parse_event_time(until)
        if since_ns is not None and until_ns is not None and until_ns < since_ns:
            raise errors.InvalidParameter(
                f"`since` time ({since}) cannot be after `until` time ({until})"
            )
        wanted = dict(filters or {})

        def match(event: Event) -> bool:
            return not wanted or event_matches(event, wanted)

        past = self._past(since_ns, until_ns, match)
        now = time.time_ns()
        if until_ns is not None and until_ns < now:
            return Subscription(None, past, match, until_ns, 0)
        subscription = Subscription(self, past, match, until_ns, self._queue_limit)
        if until_ns is not None:
            subscription._start_timer((until_ns - now) / 1e9)
        self._subscribers.append(subscription)
        return subscription

    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        """End every subscription (daemon shutdown); queued events are still delivered."""
        self._closed = list(self._subscribers)
        for subscriber in self._closed:
            subscriber._end()

    async def delivered(self, timeout: float) -> None:
        """Wait (at most `timeout` s) until the readers of the subscriptions `close` ended
        have taken their last events, so that a shutdown does not cut them off."""
        waits = [asyncio.create_task(s.consumed.wait()) for s in self._closed]
        if not waits:
            return
        _, pending = await asyncio.wait(waits, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._closed = []

    def _past(
        self, since_ns: int | None, until_ns: int | None, match: Callable[[Event], bool]
    ) -> list[Event]:
        if since_ns is None and until_ns is None:
            return []
        lower = since_ns or 0
        past: list[Event] = []
        for event in reversed(self._history):
            if event["timeNano"] < lower:
                break
            # As in dockerd, an until of 0 or before the epoch bounds nothing here.
            if until_ns is not None and until_ns > 0 and event["timeNano"] > until_ns:
                continue
            if match(event):
                past.append(event)
        past.reverse()
        return past

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)


def _match_image(
    filters: FilterMap, event: Event, actor_id: str, attributes: Mapping[str, str]
) -> bool:
    if not filters.get("image"):
        return True
    # Image events name the image in "name", container events in "image".
    image = attributes.get("name" if event["Type"] == "image" else "image", "")
    candidates = {actor_id, image, _familiar_name(actor_id), _familiar_name(image)}
    return any(match_exact(filters, "image", candidate) for candidate in candidates)


def _familiar_name(image: str) -> str:
    """The repository without registry default, tag or digest ("busybox:latest" -> "busybox")."""
    try:
        return parse_normalized_named(image).familiar_name
    except InvalidReferenceError:
        return image
