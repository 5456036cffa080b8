"""A container together with what exists only while the daemon runs: its state machine,
its stdio switchboard, its containerd objects and the lock that orders API operations."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from libcontainerd.types import Container as LcdContainer
from libcontainerd.types import Process as LcdProcess
from libcontainerd.types import Task as LcdTask

from .detach import parse_detach_keys
from .io import StdioHub
from .model import Container
from .restart import Backoff
from .state import StateMachine


@dataclass(eq=False)
class ExecRecord:
    """An exec instance, from `POST /containers/{id}/exec` until its container goes away."""

    id: str
    container_id: str
    config: dict[str, object]
    process: LcdProcess | None = None
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    hub: StdioHub = field(default_factory=StdioHub)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    probe: bool = False  # a healthcheck's, discarded once over
    # Made only when the exit comes before Tasks.Start has answered (see ExecManager.exited):
    # resolved by the start once it has.
    start_answered: asyncio.Future[None] | None = None

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def detach_keys(self) -> bytes:
        """Its DetachKeys (checked at create), or the default."""
        return parse_detach_keys(str(self.config.get("DetachKeys") or ""))


@dataclass(eq=False)
class LiveContainer:
    model: Container
    machine: StateMachine
    hub: StdioHub = field(default_factory=StdioHub)
    lcd: LcdContainer | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    execs: dict[str, ExecRecord] = field(default_factory=dict)
    backoff: Backoff = field(default_factory=Backoff)
    restart_timer: asyncio.Task[None] | None = None
    started_monotonic: float = 0.0

    def cancel_restart(self) -> None:
        timer, self.restart_timer = self.restart_timer, None
        if timer is not None and not timer.done():
            timer.cancel()

    @property
    def task(self) -> LcdTask | None:
        return self.lcd.task() if self.lcd is not None else None

    @property
    def id(self) -> str:
        return self.model.id
