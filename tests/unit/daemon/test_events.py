"""The events bus: dockerd's event shape, history windows, filters, until and overflow."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from daemon import errors
from daemon.events import (
    Event,
    EventsBus,
    Subscription,
    container_attributes,
    event_matches,
)
from daemon.timefmt import parse_event_time

CID = "f" * 64


def container_event(bus: EventsBus, action: str, name: str = "web", **extra: str) -> Any:
    attributes = container_attributes(f"/{name}", "busybox", {"tier": "front"}, extra)
    return bus.publish("container", action, CID, attributes)


async def drain(subscription: Subscription) -> list[Event]:
    return [event async for event in subscription]


def test_container_event_has_legacy_fields() -> None:
    bus = EventsBus()
    event = container_event(bus, "die", exitCode="137")
    assert list(event) == [
        "status",
        "id",
        "from",
        "Type",
        "Action",
        "Actor",
        "scope",
        "time",
        "timeNano",
    ]
    assert event["status"] == "die" and event["id"] == CID and event["from"] == "busybox"
    assert event["Type"] == "container" and event["Action"] == "die"
    assert event["Actor"] == {
        "ID": CID,
        "Attributes": {"exitCode": "137", "image": "busybox", "name": "web", "tier": "front"},
    }
    # Attribute keys come sorted, as Go writes a map.
    assert list(event["Actor"]["Attributes"]) == ["exitCode", "image", "name", "tier"]
    assert event["scope"] == "local"
    assert event["time"] == event["timeNano"] // 1_000_000_000
    assert abs(event["timeNano"] - time.time_ns()) < 5 * 10**9


def test_image_event_has_status_and_id_only() -> None:
    event = EventsBus().publish("image", "pull", "busybox:latest", {"name": "busybox:latest"})
    assert list(event)[:3] == ["status", "id", "Type"]
    assert event["status"] == "pull" and event["id"] == "busybox:latest"
    assert "from" not in event


@pytest.mark.parametrize("kind", ["network", "volume", "daemon", "plugin"])
def test_other_types_have_no_legacy_fields(kind: str) -> None:
    event = EventsBus().publish(kind, "create", "abc", {"name": "n"})
    assert list(event) == ["Type", "Action", "Actor", "scope", "time", "timeNano"]


def test_container_attributes_override_order() -> None:
    attributes = container_attributes(
        "/web", "img", {"name": "label-name", "k": "label"}, {"k": "extra", "signal": "15"}
    )
    assert attributes == {"k": "label", "signal": "15", "image": "img", "name": "web"}
    assert "image" not in container_attributes("/x", "", {})


def test_parse_event_time() -> None:
    assert parse_event_time(None) is None
    assert parse_event_time("") is None
    assert parse_event_time("123") == 123_000_000_000
    assert parse_event_time("123.456") == 123_456_000_000
    assert parse_event_time("123.000000001") == 123_000_000_001
    assert parse_event_time(1.5) == 1_500_000_000
    with pytest.raises(errors.InvalidParameter) as caught:
        parse_event_time("1m")
    assert str(caught.value) == 'strconv.ParseInt: parsing "1m": invalid syntax'


def test_filters() -> None:
    bus = EventsBus()
    die = container_event(bus, "die", exitCode="0")
    exec_start = container_event(bus, "exec_start: sh -c true")
    pull = bus.publish("image", "pull", "busybox:latest", {"name": "busybox:latest"})
    net = bus.publish("network", "connect", "n" * 64, {"container": CID, "name": "bridge"})

    def matching(filters: dict[str, list[str]]) -> list[str]:
        return [e["Action"] for e in (die, exec_start, pull, net) if event_matches(e, filters)]

    assert matching({}) == ["die", "exec_start: sh -c true", "pull", "connect"]
    assert matching({"type": ["container"]}) == ["die", "exec_start: sh -c true"]
    assert matching({"type": ["image", "network"]}) == ["pull", "connect"]
    assert matching({"event": ["die"]}) == ["die"]
    assert matching({"event": ["exec_start"]}) == ["exec_start: sh -c true"]
    # Container filters match the ID or the name, by prefix, of any type of event.
    assert matching({"container": ["web"]}) == ["die", "exec_start: sh -c true"]
    assert matching({"container": ["we"]}) == ["die", "exec_start: sh -c true"]
    assert matching({"container": ["fff"], "event": ["die"]}) == ["die"]
    assert matching({"container": ["nope"]}) == []
    # Image: the attribute or the image ID, with or without the tag.
    assert matching({"image": ["busybox"]}) == ["die", "exec_start: sh -c true", "pull"]
    assert matching({"image": ["busybox:latest"]}) == ["pull"]
    assert matching({"image": ["docker.io/library/busybox"]}) == []
    assert matching({"label": ["tier"]}) == ["die", "exec_start: sh -c true"]
    assert matching({"label": ["tier=front"]}) == ["die", "exec_start: sh -c true"]
    assert matching({"label": ["tier=back"]}) == []
    assert matching({"label": ["tier=front", "exitCode=0"]}) == ["die"]
    assert matching({"network": ["bridge"]}) == ["connect"]
    assert matching({"scope": ["local"]}) == ["die", "exec_start: sh -c true", "pull", "connect"]
    assert matching({"scope": ["swarm"]}) == []
    # An empty list filters nothing, as an empty set of values in dockerd.
    assert matching({"type": []}) == ["die", "exec_start: sh -c true", "pull", "connect"]


async def test_no_window_means_live_only() -> None:
    bus = EventsBus()
    container_event(bus, "create")
    subscription = bus.subscribe()
    assert bus.subscriber_count() == 1
    container_event(bus, "start")
    subscription.close()
    assert bus.subscriber_count() == 0
    assert await drain(subscription) == []


async def test_live_events_arrive_in_order() -> None:
    bus = EventsBus()
    subscription = bus.subscribe(filters={"type": ["container"]})
    got: list[str] = []

    async def consume() -> None:
        async for event in subscription:
            got.append(event["Action"])
            if event["Action"] == "destroy":
                subscription.close()

    task = asyncio.create_task(consume())
    for action in ("create", "start", "die"):
        container_event(bus, action)
        await asyncio.sleep(0)
    bus.publish("image", "pull", "x", {})
    container_event(bus, "destroy")
    await asyncio.wait_for(task, 2)
    assert got == ["create", "start", "die", "destroy"]


async def test_since_and_until_select_from_history() -> None:
    bus = EventsBus()
    events = [container_event(bus, f"a{i}") for i in range(6)]
    times = [e["timeNano"] for e in events]

    def seconds(ns: int) -> str:
        return f"{ns // 10**9}.{ns % 10**9:09d}"

    past_only = bus.subscribe(since=seconds(times[1]), until=seconds(times[3]))
    assert bus.subscriber_count() == 0  # until has passed: nothing live to wait for
    assert [e["Action"] for e in await drain(past_only)] == ["a1", "a2", "a3"]

    everything = bus.subscribe(since="0", until=seconds(times[-1]))
    assert len(await drain(everything)) == 6

    from_since = bus.subscribe(since=seconds(times[4]), filters={"event": ["a5"]})
    container_event(bus, "a5")
    from_since.close()
    # close() drops what is queued; take the past before closing.
    from_since2 = bus.subscribe(since=seconds(times[4]), filters={"event": ["a5"]})
    first = await asyncio.wait_for(from_since2.__anext__(), 1)
    assert first is events[5]
    from_since2.close()


async def test_history_is_bounded() -> None:
    bus = EventsBus(history=10)
    for i in range(25):
        container_event(bus, f"e{i}")
    now = time.time_ns()
    past = await drain(bus.subscribe(since="0", until=f"{now // 10**9}.{now % 10**9:09d}"))
    assert [e["Action"] for e in past] == [f"e{i}" for i in range(15, 25)]


async def test_since_after_until_is_invalid() -> None:
    with pytest.raises(errors.InvalidParameter) as caught:
        EventsBus().subscribe(since="20", until="10")
    assert str(caught.value) == "`since` time (20) cannot be after `until` time (10)"


async def test_until_ends_the_stream_by_timer() -> None:
    bus = EventsBus()
    until = time.time() + 0.2
    subscription = bus.subscribe(since=str(int(time.time()) - 1), until=f"{until:.6f}")
    container_event(bus, "before")
    started = time.monotonic()
    events = await asyncio.wait_for(drain(subscription), 2)
    assert [e["Action"] for e in events] == ["before"]
    assert 0.1 <= time.monotonic() - started < 1.5
    assert bus.subscriber_count() == 0


async def test_slow_subscriber_is_dropped_not_blocking() -> None:
    bus = EventsBus(queue_limit=5)
    slow = bus.subscribe()
    fast_got: list[str] = []
    fast = bus.subscribe()

    async def fast_reader() -> None:
        async for event in fast:
            fast_got.append(event["Action"])

    task = asyncio.create_task(fast_reader())
    for i in range(10):
        container_event(bus, f"e{i}")
        await asyncio.sleep(0)
    # The slow one overflowed on the 6th event and was dropped; the fast one goes on.
    assert slow.overflowed and bus.subscriber_count() == 1
    assert [e["Action"] for e in await drain(slow)] == [f"e{i}" for i in range(5)]
    assert fast_got == [f"e{i}" for i in range(10)]
    bus.close()
    await asyncio.wait_for(task, 1)
    assert not fast.overflowed and bus.subscriber_count() == 0
