"""The daemon's shutdown without live restore: its running containers are stopped.

As dockerd's: every running (or paused) container gets its stop signal and, after its
stop timeout, SIGKILL, all of them at once. The daemon waits for them at most
`shutdown_bound` seconds: the configured shutdown-timeout, or a container's stop timeout
plus 5 s when that is longer. An exit during the shutdown starts no restart and does not
count as a stop by hand, so restart policies apply again at the next start. What has not
stopped by then is left running (the next start reattaches it, as with live restore).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from daemon import errors
from daemon.container.live import LiveContainer
from daemon.container.stop import DEFAULT_STOP_TIMEOUT
from daemon.daemon import Daemon

log = logging.getLogger(__name__)

GRACE = 5  # seconds beyond a container's stop timeout, as dockerd's shutdown allows


@dataclass
class ShutdownResult:
    stopped: dict[str, int] = field(default_factory=dict)  # id -> exit code
    left_running: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _stop_timeout(live: LiveContainer) -> int:
    value = live.model.config.get("StopTimeout")
    return int(value) if value is not None else DEFAULT_STOP_TIMEOUT


def shutdown_bound(lives: list[LiveContainer], shutdown_timeout: int) -> float:
    """How long the daemon waits for its containers to stop (dockerd's ShutdownTimeout)."""
    bound = shutdown_timeout
    for live in lives:
        bound = max(bound, _stop_timeout(live) + GRACE)
    return float(bound)


async def stop_containers(daemon: Daemon, shutdown_timeout: int) -> ShutdownResult:
    """Stop every running container in parallel, waiting at most the shutdown bound."""
    started = time.monotonic()
    running = [live for live in daemon.containers() if live.model.state.running]
    result = ShutdownResult()
    if not running:
        return result
    bound = shutdown_bound(running, shutdown_timeout)
    log.info("stopping %d containers (waiting at most %ds)", len(running), bound)
    daemon.shutting_down = True

    async def stop_one(live: LiveContainer) -> None:
        try:
            await daemon.stop(live.id)
        except errors.NotModified:
            pass  # ended meanwhile
        except errors.DaemonError as exc:
            log.error("shutdown: stopping %s failed: %s", live.id[:12], exc)

    tasks = [asyncio.create_task(stop_one(live), name=f"stop-{live.id[:12]}") for live in running]
    _, pending = await asyncio.wait(tasks, timeout=bound)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for live in running:
        state = live.model.state
        if state.running:
            result.left_running.append(live.id)
        else:
            result.stopped[live.id] = state.exit_code
            log.info("shutdown: %s stopped, exit code %d", live.id[:12], state.exit_code)
    if result.left_running:
        log.error(
            "force shutdown: %d containers did not stop within %ds and are left running",
            len(result.left_running),
            bound,
        )
    result.seconds = time.monotonic() - started
    return result
