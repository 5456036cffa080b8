"""`docker start`: a new task for the container, its stdio copied from before it starts.

A start holds the container's lock until STARTED is applied, so that the events of a
process that dies at once are applied after it (monitor.py).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from libcontainerd import errors as lcd_errors
from libcontainerd import specs
from libcontainerd.types import StdioSpec, Task

from .. import errors
from ..start_errors import runtime_start_error, start_exit_code
from . import remove, volumes
from .live import LiveContainer
from .model import Status
from .state import Input

if TYPE_CHECKING:
    from ..daemon import Daemon


async def start(daemon: Daemon, ref: str) -> None:
    live = daemon.get(ref)
    async with live.lock:
        status = live.model.state.status
        if status is Status.PAUSED:
            raise errors.Conflict("cannot start a paused container, try unpause instead")
        if status in (Status.RUNNING, Status.RESTARTING):
            raise errors.NotModified()
        if status in (Status.REMOVING, Status.DEAD):
            # dockerd 20.10's text names no container.
            raise errors.Conflict("container is marked for removal and cannot be started")
        # A start by the user starts the restart policy's count and backoff over.
        live.machine.apply(Input.START_REQUESTED)
        live.backoff.reset()
        await start_locked(daemon, live)


async def start_locked(daemon: Daemon, live: LiveContainer) -> None:
    """Start a run of `live`, whose lock the caller holds."""
    if live.lcd is None:
        raise errors.SystemError(f"container {live.id} has no containerd record")
    config = live.model.config
    stdio = StdioSpec(
        stdin=bool(config.get("OpenStdin")),
        stdout=True,
        stderr=True,
        terminal=bool(config.get("Tty")),
    )
    task = None
    try:
        model = live.model
        await daemon.netrt.setup(model.id, model.name, model.config, model.host_config)
        await volumes.mount(daemon, live)
        await _refresh_spec(daemon, live)
        task = await live.lcd.new_task(stdio)
        start_copying(daemon, live, task)
        pid = await task.start()
        live.hub.open_stdin()
    except (lcd_errors.LibcontainerdError, errors.DaemonError) as exc:
        # The daemon's own errors keep their kind (a network gone since create: 404, a
        # bind source gone: 400, a bad link-local address: 500, as dockerd answers).
        failure = exc if isinstance(exc, errors.DaemonError) else runtime_start_error(str(exc))
        message = failure.message
        if task is not None:
            # Rolled back whatever the failed call left (a start that did happen too);
            # if containerd cannot be reached, the reconcile when it is back decides.
            with contextlib.suppress(lcd_errors.LibcontainerdError):
                await live.lcd.delete_task()
        await daemon.netrt.teardown(live.id, timed=False)  # networking: nothing half set up
        await volumes.unmount(daemon, live)
        live.machine.apply(Input.START_FAILED, error=message, exit_code=start_exit_code(message))
        live.hub.end_run()
        if live.model.host_config.get("AutoRemove"):
            remove.spawn_auto_remove(daemon, live)
        raise failure from None
    live.started_monotonic = time.monotonic()
    live.machine.apply(Input.STARTED, pid=pid)
    daemon.health.start(live)


async def _refresh_spec(daemon: Daemon, live: LiveContainer) -> None:
    """Build the spec again; containerd hears of it only when it changed (its encoding's
    digest differs from the one of the spec containerd holds: libcontainerd.specs).
    None from `for_start`: the spec create built, unchanged, and not built again."""
    assert live.lcd is not None
    spec = daemon.specs.for_start(live.model, await live.lcd.rootfs_mounts())
    if spec is not None and specs.digest_of(spec) != live.lcd.record.spec_digest:
        await live.lcd.update_spec(spec)


def start_copying(daemon: Daemon, live: LiveContainer, task: Task) -> None:
    live.hub.start_run(task.stdio, daemon._open_log(live.model), task.close_stdin)
