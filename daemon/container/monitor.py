"""containerd's task events turned into state machine inputs, and the restart scheduler.

Events for one container are handled in order under its lock; an exit ends the run
(task deleted, network and volumes let go, output drained) and then the restart policy
decides whether it goes again, after its backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from libcontainerd import errors as lcd_errors
from libcontainerd.types import INIT_PROCESS_ID, EventInfo, EventType

from .. import errors
from . import remove, restore, start, volumes
from .live import LiveContainer
from .model import Status
from .oom import oom_killed
from .restart import RestartPolicy
from .state import Input, exit_ends_run

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger(__name__)

# The task events process_event acts on: the daemon's libcontainerd client is given only
# these (containerd's create, exec-added and exec-started change nothing here, and each
# cost a read on the event stream and a dispatch).
HANDLED_EVENTS = frozenset(
    {EventType.EXIT, EventType.OOM, EventType.PAUSED, EventType.RESUMED, EventType.START}
)


async def process_event(
    daemon: Daemon, container_id: str, event_type: EventType, info: EventInfo
) -> None:
    live = daemon.find(container_id)
    if live is None or not daemon.listed:
        # Before the first restore's listing a container has no containerd objects yet:
        # an exit handled then would restart it with nothing to start (and the restore
        # would then collect the same exit again). The listing, made later, shows what
        # such an event did, and the restore applies it.
        return
    if event_type is EventType.EXIT and info.process_id != INIT_PROCESS_ID:
        await daemon.execs.exited(live, info)
        return
    if event_type not in HANDLED_EVENTS:
        # Nothing to apply (an exec's start tells itself; a backend may send every event):
        # not worth the lock, which a change under way could hold, with this exec's exit
        # queued behind.
        return
    # A start holds the lock until its STARTED input is applied: a process that dies
    # (or is OOM-killed) at once must not have its events applied before that.
    async with live.lock:
        if event_type is EventType.EXIT:
            await _task_exited(daemon, live, info)
        elif event_type is EventType.OOM:
            live.machine.apply(Input.OOM)
        elif event_type is EventType.PAUSED:
            live.machine.apply(Input.PAUSED)
        elif event_type is EventType.RESUMED:
            live.machine.apply(Input.RESUMED)
        elif event_type is EventType.START:
            await _task_started(daemon, live)


async def _task_started(daemon: Daemon, live: LiveContainer) -> None:
    """A task started that no start of the daemon's finished (one that failed as
    containerd went away, or one started behind the daemon's back): adopted, as
    restore would. A start of the daemon's own has applied STARTED before this runs
    (it holds the lock), so this costs nothing on the normal path."""
    state = live.model.state
    if state.running or state.status in (Status.REMOVING, Status.DEAD) or live.lcd is None:
        return
    try:
        found = await live.lcd.probe_task()  # a Tasks.Get unless the task is known
    except lcd_errors.LibcontainerdError as exc:
        log.warning("task of %s started, state unknown: %s", live.id[:12], exc)
        return
    if found is not None:
        await restore.apply_task_steps(daemon, live, found, announce=True)


async def _task_exited(daemon: Daemon, live: LiveContainer, info: EventInfo) -> None:
    if not exit_ends_run(live.model.state, info.pid):
        # Applied already (by restore, from the listing made while this waited in the
        # queue): a second application would stop the health checks of the next run,
        # delete its task or decide on one more restart.
        log.debug("exit of %s (pid %d) was applied already", live.id[:12], info.pid)
        return
    daemon.health.stop(live)
    task = live.task
    # Read before Tasks.Delete, which removes the cgroup with its OOM count.
    if info.exit_code == 137 and not live.model.state.oom_killed and live.lcd is not None:
        cgroup = live.lcd.record.spec.get("linux", {}).get("cgroupsPath", "")
        if oom_killed(cgroup):
            live.machine.apply(Input.OOM)
    if task is not None:
        # Tasks.Delete makes containerd forget the exit code: written down first.
        live.machine.apply(Input.EXIT_SEEN, exit_code=info.exit_code)
        try:
            await task.delete()
        except lcd_errors.NotFoundError:
            pass
        except lcd_errors.LibcontainerdError as exc:
            # Still there and not deletable: the exit was not real (or containerd went
            # away); the reconcile when it is back settles it.
            log.warning("exit of %s not confirmed: %s", live.id[:12], exc)
            return
    await daemon.netrt.teardown(live.id)  # networking: endpoints and sandbox go
    await volumes.unmount(daemon, live)
    # After the delete: the shim has then closed its ends of the FIFOs.
    await live.hub.drain()
    daemon.execs.container_exited(live)
    if not live.machine.apply(Input.EXITED, exit_code=info.exit_code, at=info.exited_at):
        return
    if live.model.host_config.get("AutoRemove"):
        remove.spawn_auto_remove(daemon, live)
        return
    model = live.model
    policy = RestartPolicy.of(model.host_config)
    by_hand = model.manually_stopped or daemon.shutting_down
    if policy.after_exit(info.exit_code, by_hand, model.restart_count):
        ran_for = time.monotonic() - live.started_monotonic
        schedule_restart(daemon, live, live.backoff.next(ran_for))


def schedule_restart(daemon: Daemon, live: LiveContainer, delay: float) -> None:
    live.machine.apply(Input.RESTARTING)
    live.restart_timer = daemon._background.spawn(
        _restart_after(daemon, live, delay), name=f"restart-{live.id[:12]}"
    )


async def _restart_after(daemon: Daemon, live: LiveContainer, delay: float) -> None:
    await asyncio.sleep(delay)  # the policy's backoff, not a wait for some state
    async with live.lock:
        if live.restart_timer is not asyncio.current_task():
            return
        live.restart_timer = None
        if live.model.state.status is not Status.RESTARTING or live.model.manually_stopped:
            return
        try:
            await start.start_locked(daemon, live)
        except errors.DaemonError as exc:
            log.warning("restart of %s failed: %s", live.id[:12], exc)


async def cancel_restart(live: LiveContainer) -> bool:
    """Stop a pending restart; True if the container was waiting for one.

    Under the lock, so that a restart already under way finishes first (and the
    caller then stops a running container instead).
    """
    if live.model.state.status is not Status.RESTARTING:
        return False
    async with live.lock:
        live.cancel_restart()
        if live.model.state.status is not Status.RESTARTING:
            return False
        live.machine.apply(Input.EXITED, exit_code=live.model.state.exit_code)
        return True
