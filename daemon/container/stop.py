"""`docker stop`, `kill` and `restart`: signals to a container's task, and the bounded
wait for its exit (on the state machine's next-exit waiter: no RPC)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

from libcontainerd import errors as lcd_errors
from libcontainerd.types import Task, TaskStatus

from .. import errors
from ..signals import parse_signal
from . import monitor, start
from .live import LiveContainer
from .state import Input

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT = 10
# How long a SIGKILLed task may take to be reported exited before containerd is asked.
KILL_EXIT_TIMEOUT = 10.0


def running_task(live: LiveContainer, prefix: str = "") -> Task:
    task = live.task
    if not live.model.state.running or task is None:
        raise errors.Conflict(f"{prefix}Container {live.id} is not running")
    return task


async def kill(daemon: Daemon, ref: str, sig: str | int | None = None) -> None:
    # dockerd checks the signal first, and names the failed kill in a missing container's text.
    number = parse_signal(sig)
    try:
        live = daemon.get(ref)
    except errors.NotFound as exc:
        raise errors.NotFound(f"Cannot kill container: {ref}: {exc}") from None
    task = running_task(live, f"Cannot kill container: {ref}: ")
    if number == signal.SIGKILL:
        # As dockerd: SIGKILL (the default) returns once the container has exited, so
        # an inspect or a remove right after it sees a stopped container. The wait is
        # on the state machine (no RPC), bounded as stop's and rm -f's are.
        daemon.container_event(live, "kill", signal=str(number))
        try:
            await kill_and_wait(live)
        except lcd_errors.UnavailableError as exc:
            raise errors.SystemError(f"Cannot kill container: {ref}: {exc}") from None
        except lcd_errors.LibcontainerdError:
            raise errors.SystemError(
                f"Cannot kill container: {ref}: tried to kill container, "
                "but did not receive an exit event"
            ) from None
        return
    try:
        await task.kill(number)
    except lcd_errors.NotFoundError:
        raise errors.Conflict(
            f"Cannot kill container: {ref}: Container {live.id} is not running"
        ) from None
    daemon.container_event(live, "kill", signal=str(number))


async def stop(
    daemon: Daemon, ref: str, timeout: int | None = None, sig: str | None = None
) -> None:
    live = daemon.get(ref)
    if not live.model.state.running:
        raise errors.NotModified()
    await _stop(daemon, live, timeout, sig)
    daemon.container_event(live, "stop")


async def _stop(daemon: Daemon, live: LiveContainer, timeout: int | None, sig: str | None) -> None:
    # A stop by the daemon's own shutdown is not "by hand": restart policies apply again
    # at the next start, as dockerd's.
    if not daemon.shutting_down:
        live.machine.apply(Input.STOP_REQUESTED)
    if await monitor.cancel_restart(live):
        return
    config = live.model.config
    number = parse_signal(sig or config.get("StopSignal"), default=signal.SIGTERM)
    if timeout is None:
        stop_timeout = config.get("StopTimeout")
        timeout = int(stop_timeout) if stop_timeout is not None else DEFAULT_STOP_TIMEOUT
    # Again: a restart under way (which cancel_restart let finish) started it afresh.
    if not daemon.shutting_down:
        live.machine.apply(Input.STOP_REQUESTED)
    exited = live.machine.next_exit()
    task = live.task
    if task is None:
        return
    if live.model.state.paused:
        # A frozen process cannot act on a signal until it is thawed.
        with contextlib.suppress(lcd_errors.LibcontainerdError):
            await task.kill(number)
            await task.resume()
    else:
        with contextlib.suppress(lcd_errors.LibcontainerdError):
            await task.kill(number)
    daemon.container_event(live, "kill", signal=str(number))
    if timeout >= 0:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(exited)
            return
        except TimeoutError:
            pass
    live.machine.forget_waiter(exited)
    try:
        await kill_and_wait(live)
    except lcd_errors.LibcontainerdError as exc:
        raise errors.SystemError(f"Cannot kill container: {live.id}: {exc}") from None
    daemon.container_event(live, "kill", signal=str(int(signal.SIGKILL)))


async def kill_and_wait(live: LiveContainer) -> None:
    """SIGKILL the task and wait for its exit, bounded: a kill that cannot reach
    containerd is raised rather than waited on for ever; after 10 s containerd is asked,
    and a task it no longer has (or has stopped) is taken as exited."""
    exited = live.machine.next_exit()
    try:
        task = live.task
        gone = task is None
        if task is not None:
            try:
                await task.kill(signal.SIGKILL)
                if live.model.state.paused:
                    await task.resume()
            except lcd_errors.NotFoundError:
                gone = True  # ended already, or unknown to containerd: ask it below
            except lcd_errors.UnavailableError:
                raise
            except lcd_errors.LibcontainerdError as exc:
                # e.g. the shim's connection closing as the process ends: the exit
                # (or containerd, asked below) tells.
                log.info("kill of %s: %s", live.id[:12], exc)
        if not gone:
            try:
                async with asyncio.timeout(KILL_EXIT_TIMEOUT):
                    await asyncio.shield(exited)
                return
            except TimeoutError:
                pass
        async with live.lock:
            state = live.model.state
            if not state.running:
                return
            found = await live.lcd.probe_task() if live.lcd is not None else None
            if found is not None and found.status is not TaskStatus.STOPPED:
                raise lcd_errors.UnknownError(f"no exit {KILL_EXIT_TIMEOUT:g}s after SIGKILL")
            code = state.recorded_exit if state.recorded_exit is not None else 255
            if found is not None and live.lcd is not None:
                code = found.exit_code  # its exit event was lost, not its exit
                await live.lcd.delete_task()
            live.machine.apply(Input.EXITED, exit_code=code)
    finally:
        live.machine.forget_waiter(exited)


async def restart(
    daemon: Daemon, ref: str, timeout: int | None = None, signal: str | None = None
) -> None:
    live = daemon.get(ref)
    if live.model.state.running:
        await _stop(daemon, live, timeout, signal)
    async with live.lock:
        if not live.model.state.running:
            await start.start_locked(daemon, live)
    daemon.container_event(live, "restart")
