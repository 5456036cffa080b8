"""The healthcheck schedule without a containerd: probes by a scripted runner, on Docker's rules
for retries, the start period, the log of the last five results and status events (which the
container's state machine keeps and emits: its rules are unit-tested in test_state_machine.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

from daemon.container.health import HealthMonitor
from daemon.container.io import Attachment
from daemon.container.live import ExecRecord, LiveContainer
from daemon.container.model import Container, Status
from daemon.container.state import Input, StateMachine, transition_event

MS = 1_000_000  # Docker's durations are in nanoseconds


class ScriptedProbes:
    """Each probe exits with the next code of the script, after writing `probe <n>`."""

    def __init__(self, codes: list[int]) -> None:
        self._codes: Iterator[int] = iter(codes)
        self.run = 0
        self.discarded = 0

    def create(self, ref: str, config: dict[str, Any], *, probe: bool = False) -> str:
        assert probe and config["Cmd"] == ["/bin/sh", "-c", "check"]
        self.run += 1
        self._record = ExecRecord(f"probe-{self.run}", ref, config, probe=True)
        return self._record.id

    def prepare(self, exec_id: str) -> tuple[ExecRecord, Attachment]:
        return self._record, self._record.hub.attach()

    async def start(self, record: ExecRecord) -> None:
        code = next(self._codes, None)
        if code is None:
            return  # out of script: this probe never ends (and the test is over by then)
        record.hub.broadcast("stdout", f"probe {self.run}".encode())
        record.hub.end_run()
        record.exit_code = code
        record.exited.set()

    def discard(self, record: ExecRecord) -> None:
        self.discarded += 1


def _container(
    healthcheck: dict[str, Any], save: Callable[[Container], None], events: list[str]
) -> LiveContainer:
    model = Container(
        id="c" * 64, name="/c", created="", path="", args=[], host_config={},
        config={"Healthcheck": {"Test": ["CMD-SHELL", "check"], **healthcheck}},
        image_id="", runtime="runc",
    )  # fmt: skip
    model.state.status = Status.RUNNING

    def told(container: Container, applied: Input, before: Status) -> None:
        event = transition_event(container, applied, before)
        if event is not None:
            events.append(event[0])

    live = LiveContainer(model, StateMachine(model, save, told))
    live.started_monotonic = time.monotonic()
    return live


async def _monitor(
    healthcheck: dict[str, Any], codes: list[int]
) -> tuple[LiveContainer, list[str], int]:
    probes = ScriptedProbes(codes)
    events: list[str] = []
    saves = 0

    def save(_: Container) -> None:
        nonlocal saves
        saves += 1

    live = _container({"Interval": 5 * MS, **healthcheck}, save, events)
    monitor = HealthMonitor(probes)
    monitor.start(live)
    assert live.model.state.health is not None
    assert live.model.state.health["Status"] == "starting"
    try:
        async with asyncio.timeout(10):
            while probes.run <= len(codes):  # noqa: ASYNC110 (a deadline-bound poll)
                await asyncio.sleep(0.005)
    finally:
        await monitor.shutdown()
    assert probes.discarded >= len(codes)
    return live, events, saves


async def test_failures_up_to_retries_make_it_unhealthy_and_a_success_healthy() -> None:
    live, events, _ = await _monitor({"Retries": 2}, [1, 1, 0])
    health = live.model.state.health
    assert health is not None
    assert events == ["health_status: unhealthy", "health_status: healthy"]
    assert (health["Status"], health["FailingStreak"]) == ("healthy", 0)
    assert [entry["ExitCode"] for entry in health["Log"] or []] == [1, 1, 0]
    assert [entry["Output"] for entry in health["Log"] or []] == ["probe 1", "probe 2", "probe 3"]


async def test_failures_in_the_start_period_do_not_count() -> None:
    live, events, _ = await _monitor({"Retries": 1, "StartPeriod": 60_000 * MS}, [1, 1, 0])
    health = live.model.state.health
    assert health is not None
    assert events == ["health_status: healthy"]
    assert [entry["ExitCode"] for entry in health["Log"] or []] == [1, 1, 0]


async def test_the_log_keeps_the_last_five_results_and_each_is_saved() -> None:
    codes = [0, 1, 0, 1, 0, 1, 0]
    live, _, saves = await _monitor({"Retries": 3}, codes)
    health = live.model.state.health
    assert health is not None
    assert [entry["ExitCode"] for entry in health["Log"] or []] == codes[-5:]
    assert health["FailingStreak"] == 0
    assert saves == 1 + len(codes)  # the start, then every result
