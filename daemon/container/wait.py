"""`docker wait`: futures on the container's state machine, made before the reply starts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .. import errors

if TYPE_CHECKING:
    from ..daemon import Daemon


def waiter(daemon: Daemon, ref: str, condition: str) -> asyncio.Future[int]:
    """A future for `docker wait`; made before any byte of the reply is sent."""
    live = daemon.get(ref)
    if condition in ("", "not-running"):
        return live.machine.not_running()
    if condition == "next-exit":
        return live.machine.next_exit()
    if condition == "removed":
        return live.machine.removal()
    raise errors.InvalidParameter(f'invalid condition: "{condition}"')


def forget_waiter(daemon: Daemon, ref: str, waiter: asyncio.Future[int]) -> None:
    # Resolved as `waiter()` resolved it (short ids too), so no waiter is left behind.
    try:
        live = daemon.get(ref)
    except errors.DaemonError:
        return  # removed meanwhile: its waiters went with it
    live.machine.forget_waiter(waiter)
