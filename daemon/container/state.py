"""The one place where a container's state changes.

API operations and containerd events both arrive here as inputs; each input is
checked against the current status, applied, persisted, and then wakes whoever
waits on it (`docker wait`, `docker run`'s exit code, removal).

Beside the status the machine keeps the restart policy's bookkeeping (RestartCount,
whether the user stopped the container) and State.Health: the health monitor, the
restart scheduler and stop send them in as inputs like any other.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from wire.container import Health, HealthcheckResult

from .model import Container, State, Status, format_time, now_rfc3339

# State.Health.Status values, and how many results State.Health.Log keeps (dockerd's).
STARTING = "starting"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
MAX_LOG_ENTRIES = 5


class Input(enum.Enum):
    STARTED = "started"
    EXIT_SEEN = "exit-seen"
    START_FAILED = "start-failed"
    EXITED = "exited"
    RESTARTING = "restarting"
    OOM = "oom"
    PAUSED = "paused"
    RESUMED = "resumed"
    REMOVING = "removing"
    REMOVE_FAILED = "remove-failed"
    REMOVED = "removed"
    BROKEN = "broken"
    # The restart policy's bookkeeping, State.Health and a re-attached pid: none changes the
    # status, and each is refused (not persisted) when it would change nothing.
    START_REQUESTED = "start-requested"  # a start by the user: RestartCount starts over
    STOP_REQUESTED = "stop-requested"  # stop, restart or rm -f: no policy restart follows
    REATTACHED = "reattached"  # restore found its task running under another pid
    HEALTH_STARTING = "health-starting"  # a run with a healthcheck begins: "starting" again
    HEALTH_PROBED = "health-probed"  # a probe's result (see ProbeResult)


@dataclass(frozen=True)
class ProbeResult:
    """A healthcheck probe's outcome as the health monitor (the schedule) saw it; the
    machine decides what it does to State.Health."""

    entry: HealthcheckResult
    retries: int  # failures in a row that make the container unhealthy
    in_start_period: bool  # a failure now does not count while the container is "starting"


_RUN = {Status.RUNNING, Status.PAUSED}
_ALLOWED: dict[Input, set[Status]] = {
    Input.STARTED: {Status.CREATED, Status.EXITED, Status.RESTARTING},
    # The task's exit, written down before Tasks.Delete makes containerd forget it.
    Input.EXIT_SEEN: {Status.RUNNING, Status.PAUSED},
    Input.START_FAILED: {Status.CREATED, Status.EXITED, Status.RESTARTING},
    Input.EXITED: {Status.RUNNING, Status.PAUSED, Status.RESTARTING},
    Input.RESTARTING: {Status.EXITED},
    Input.OOM: set(Status),
    Input.PAUSED: {Status.RUNNING},
    Input.RESUMED: {Status.PAUSED},
    Input.REMOVING: {Status.CREATED, Status.EXITED, Status.DEAD},
    Input.REMOVE_FAILED: {Status.REMOVING},
    Input.REMOVED: {Status.REMOVING},
    # Its containerd container is gone and cannot be made again: only removal is left.
    Input.BROKEN: {Status.CREATED, Status.EXITED},
    Input.START_REQUESTED: {Status.CREATED, Status.EXITED},
    Input.STOP_REQUESTED: {Status.RUNNING, Status.PAUSED, Status.RESTARTING},
    Input.REATTACHED: _RUN,
    Input.HEALTH_STARTING: _RUN,
    Input.HEALTH_PROBED: _RUN,
}


def exit_ends_run(state: State, pid: int) -> bool:
    """Whether the exit of a task's init process `pid` (0: not known) ends the run that
    `state` records. One that does not was applied already: the container is no longer
    running, or runs again under another pid. Such an exit changes nothing: this is what
    makes an exit heard twice (read by restore from containerd's listing, and also queued
    on the event stream meanwhile) count once. Not decided by `exited_at`: a process that
    dies at once exits before its STARTED input records StartedAt, and a clock that steps
    back must not leave a container running with no process."""
    return state.status in _RUN and (pid == 0 or state.pid in (0, pid))


# Told of every transition (the container, the input, the status before) once it is
# applied and persisted: where state-change events (start, die, ...) come from. A probe
# that leaves the health status as it was is recorded, but is no transition.
TransitionHook = Callable[[Container, Input, Status], None]

# The container event each transition makes, as dockerd names them (health's is below).
_EVENTS = {
    Input.STARTED: "start",
    Input.EXITED: "die",
    Input.OOM: "oom",
    Input.PAUSED: "pause",
    Input.RESUMED: "unpause",
    Input.REMOVED: "destroy",
}


def transition_event(
    container: Container, applied: Input, before: Status
) -> tuple[str, dict[str, str]] | None:
    """The container event (action, extra attributes) of a transition, if it makes one."""
    state = container.state
    if applied is Input.HEALTH_PROBED and state.health is not None:
        return f"health_status: {state.health['Status']}", {}
    action = _EVENTS.get(applied)
    if action is None or (applied is Input.EXITED and before is Status.RESTARTING):
        return None  # a pending restart called off: its run died (and said so) already
    return action, {"exitCode": str(state.exit_code)} if applied is Input.EXITED else {}


class StateMachine:
    def __init__(
        self,
        container: Container,
        persist: Callable[[Container], None],
        on_transition: TransitionHook | None = None,
    ) -> None:
        self.container = container
        self._persist = persist
        self._on_transition = on_transition
        self._exit_waiters: list[asyncio.Future[int]] = []
        self._removed_waiters: list[asyncio.Future[int]] = []
        self.removed = False

    @property
    def status(self) -> Status:
        return self.container.state.status

    def apply(
        self,
        event: Input,
        *,
        pid: int = 0,
        exit_code: int = 0,
        error: str = "",
        at: datetime | None = None,
        probe: ProbeResult | None = None,
    ) -> bool:
        """Apply one input; False when the current status does not take it, or when it
        would change nothing (a no-op)."""
        state = self.container.state
        if state.status not in _ALLOWED[event] or not self._changes(event, pid, probe):
            return False
        before = state.status
        health_before = state.health["Status"] if state.health is not None else None
        match event:
            case Input.STARTED:
                state.status = Status.RUNNING
                state.pid = pid
                state.exit_code = 0
                state.error = ""
                state.oom_killed = False
                state.recorded_exit = None
                state.started_at = now_rfc3339()
                self.container.has_been_started = True
                self.container.manually_stopped = False
            case Input.EXIT_SEEN:
                state.recorded_exit = exit_code
            case Input.START_FAILED:
                state.error = error
                state.exit_code = exit_code
                if state.status is Status.RESTARTING:
                    state.status = Status.EXITED
            case Input.EXITED:
                state.status = Status.EXITED
                state.pid = 0
                state.exit_code = exit_code
                state.recorded_exit = None
                state.finished_at = format_time(at) if at else now_rfc3339()
            case Input.RESTARTING:
                state.status = Status.RESTARTING
                # Counted when decided, as dockerd: inspect shows it while the wait lasts.
                self.container.restart_count += 1
            case Input.OOM:
                state.oom_killed = True
            case Input.PAUSED:
                state.status = Status.PAUSED
            case Input.RESUMED:
                state.status = Status.RUNNING
            case Input.REMOVING:
                state.status = Status.REMOVING
            case Input.REMOVE_FAILED | Input.BROKEN:
                state.status = Status.DEAD
                state.error = error
            case Input.REMOVED:
                self.removed = True
            case Input.START_REQUESTED:
                self.container.restart_count = 0
            case Input.STOP_REQUESTED:
                self.container.manually_stopped = True
            case Input.REATTACHED:
                state.pid = pid
            case Input.HEALTH_STARTING:
                state.health = _health_starting(state.health)
            case Input.HEALTH_PROBED:
                assert state.health is not None and probe is not None  # see _changes
                _record_probe(state.health, probe)
        if event is not Input.REMOVED:
            self._persist(self.container)
        health_after = state.health["Status"] if state.health is not None else None
        transition = event is not Input.HEALTH_PROBED or health_after != health_before
        if self._on_transition is not None and transition:
            self._on_transition(self.container, event, before)
        if event is Input.EXITED:
            self._wake(self._exit_waiters, state.exit_code)
        if event is Input.REMOVED:
            self._wake(self._exit_waiters, state.exit_code)
            self._wake(self._removed_waiters, state.exit_code)
        return True

    def _changes(self, event: Input, pid: int, probe: ProbeResult | None) -> bool:
        container = self.container
        match event:
            case Input.START_REQUESTED:
                return container.restart_count != 0
            case Input.STOP_REQUESTED:
                return not container.manually_stopped
            case Input.REATTACHED:
                return container.state.pid != pid
            case Input.HEALTH_PROBED:
                return container.state.health is not None and probe is not None
        return True

    @staticmethod
    def _wake(waiters: list[asyncio.Future[int]], code: int) -> None:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(code)
        waiters.clear()

    def next_exit(self) -> asyncio.Future[int]:
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._exit_waiters.append(waiter)
        return waiter

    def not_running(self) -> asyncio.Future[int]:
        if self.container.state.running:
            return self.next_exit()
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        waiter.set_result(self.container.state.exit_code)
        return waiter

    def removal(self) -> asyncio.Future[int]:
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if self.removed:
            waiter.set_result(self.container.state.exit_code)
        else:
            self._removed_waiters.append(waiter)
        return waiter

    def forget_waiter(self, waiter: asyncio.Future[int]) -> None:
        """Drop a waiter whose client went away, so waiters cannot pile up."""
        for waiters in (self._exit_waiters, self._removed_waiters):
            if waiter in waiters:
                waiters.remove(waiter)


def _health_starting(health: Health | None) -> Health:
    """A run begins: "starting", no failures yet; the log of earlier runs stays."""
    if health is None:
        return {"Status": STARTING, "FailingStreak": 0, "Log": []}
    health["Status"] = STARTING
    health["FailingStreak"] = 0
    return health


def _record_probe(health: Health, probe: ProbeResult) -> None:
    """Docker's rules: a success makes it healthy; `retries` failures in a row make it
    unhealthy, but failures within the start period do not count while it is starting."""
    if probe.entry["ExitCode"] == 0:
        health["FailingStreak"] = 0
        health["Status"] = HEALTHY
    elif not (health["Status"] == STARTING and probe.in_start_period):
        health["FailingStreak"] = int(health.get("FailingStreak") or 0) + 1
        if health["FailingStreak"] >= probe.retries:
            health["Status"] = UNHEALTHY
    health["Log"] = [*(health.get("Log") or []), probe.entry][-MAX_LOG_ENTRIES:]
