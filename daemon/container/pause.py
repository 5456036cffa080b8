"""`docker pause` and `unpause`: the task frozen and thawed (one RPC each)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import errors
from .state import Input
from .stop import running_task

if TYPE_CHECKING:
    from ..daemon import Daemon


async def pause(daemon: Daemon, ref: str) -> None:
    live = daemon.get(ref)
    task = running_task(live)
    if live.model.state.paused:
        raise errors.Conflict(f"Container {live.id} is already paused")
    await task.pause()
    live.machine.apply(Input.PAUSED)


async def unpause(daemon: Daemon, ref: str) -> None:
    live = daemon.get(ref)
    task = live.task
    if not live.model.state.paused or task is None:
        raise errors.SystemError(f"Container {live.id} is not paused")
    await task.resume()
    live.machine.apply(Input.RESUMED)
