"""The one place where a container's state changes.

API operations and containerd events both arrive here as inputs; each input is
checked against the current status, applied, persisted, and then wakes whoever
waits on it (`docker wait`, `docker run`'s exit code, removal).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from datetime import datetime

from .model import Container, Status, format_time, now_rfc3339


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
}


# Told of every transition (the container, the input, the status before) once it is
# applied and persisted: where state-change events (start, die, ...) come from.
TransitionHook = Callable[[Container, Input, Status], None]


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
    ) -> bool:
        """Apply one input; False when the current status does not take it (a no-op)."""
        state = self.container.state
        if state.status not in _ALLOWED[event]:
            return False
        before = state.status
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
        if event is not Input.REMOVED:
            self._persist(self.container)
        if self._on_transition is not None:
            self._on_transition(self.container, event, before)
        if event is Input.EXITED:
            self._wake(self._exit_waiters, state.exit_code)
        if event is Input.REMOVED:
            self._wake(self._exit_waiters, state.exit_code)
            self._wake(self._removed_waiters, state.exit_code)
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
