"""Restore: make containerd and the store agree after a daemon restart, or whenever the
event stream comes back after containerd restarted (the plan is reconcile.py's), then
apply the restart policies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from libcontainerd import errors as lcd_errors
from libcontainerd.types import Container as LcdContainer
from libcontainerd.types import TaskInfo, TaskStatus

from .. import errors
from . import create, monitor, remove, start, volumes
from .live import LiveContainer
from .model import Status
from .reconcile import OWNER_LABEL, Kind, RecordView, Step, plan, task_steps
from .restart import RestartPolicy
from .state import Input

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger(__name__)


async def restore(daemon: Daemon, before_steps: Awaitable[object] | None = None) -> None:
    """`before_steps`: what the steps need and is still being readied (the daemon's start:
    the image store, to recreate from), awaited once containerd's side is listed: the
    listing (containerd asks every shim for its task's state) runs meanwhile."""
    await _reconcile(daemon, before_steps)
    daemon._client().on_reconnect(lambda: _containerd_back(daemon))
    for live in daemon.containers():
        if not live.model.state.running:
            await daemon.netrt.teardown(live.id, timed=False)  # networking: left by a crash
    # networking: ports held again, rules rebuilt, embedded DNS served again
    await daemon.netrt.restore({live.id: live.model.host_config for live in daemon.containers()})
    for live in daemon.containers():
        if live.model.state.running:
            await volumes.mount(daemon, live, announce=False)  # volumes: counted again
    await daemon.volumes.unmount_idle()
    restarts: list[asyncio.Task[None]] = []
    for live in daemon.containers():
        model = live.model
        policy = RestartPolicy.of(model.host_config)
        if (
            model.state.status is Status.EXITED
            and model.has_been_started
            and policy.at_daemon_start(
                model.state.exit_code, model.manually_stopped, model.restart_count
            )
        ):
            monitor.schedule_restart(daemon, live, 0.0)
            if live.restart_timer is not None:
                restarts.append(live.restart_timer)
    # As dockerd's restore: what the policies restart is started (all at once) before
    # restore returns, and the API serves only after that, so a client's first look shows
    # it running, not restarting. asyncio.wait cancels none of them if the start-up is cut
    # short: they are the background's, which the shutdown cancels.
    if restarts:
        await asyncio.wait(restarts)


# Pauses between the tries of a reconcile that found containerd unreachable.
RECONCILE_RETRY_FIRST = 0.05
RECONCILE_RETRY_MAX = 2.0


def _containerd_back(daemon: Daemon) -> None:
    # What was under way when containerd went away may have half happened.
    daemon._background.spawn(_reconcile_until_done(daemon), name="reconcile")


async def _reconcile_until_done(daemon: Daemon) -> None:
    """`_reconcile`, tried again while containerd cannot be reached: the event stream that
    says it is back is one connection, the calls the reconcile makes may go over another
    that is still reconnecting (or containerd went away again). Until one reconcile is
    done, what containerd did meanwhile (a task that exited, a create half made) is not
    applied, so it is not given up; the shutdown ends it with the daemon's other
    background work."""
    pause = RECONCILE_RETRY_FIRST
    while True:
        try:
            await _reconcile(daemon)
            return
        except lcd_errors.UnavailableError as exc:
            log.warning("reconcile: containerd unreachable, trying again in %.2fs: %s", pause, exc)
        await asyncio.sleep(pause)
        pause = min(pause * 2, RECONCILE_RETRY_MAX)


async def _reconcile(daemon: Daemon, before_steps: Awaitable[object] | None = None) -> None:
    """List containerd's side and apply the plan, holding every container's lock so
    that no operation changes either side meanwhile (creates under way are left be)."""
    async with daemon._reconciling, contextlib.AsyncExitStack() as locks:
        held = daemon.containers()
        for live in held:
            await locks.enter_async_context(live.lock)
        inventory = await daemon._client().restore()
        daemon.listed = True
        if before_steps is not None:
            await before_steps  # events meanwhile wait for the locks, as during the steps
        lcds = {c.id: c for c in inventory.containers}
        for live in held:
            live.lcd = lcds.get(live.id)
        records = [
            RecordView(live.id, live.model.state.status, live.model.state.recorded_exit)
            for live in held
            if daemon.find(live.id) is not None  # not removed while the locks were taken
        ]
        # Creates that began (or ended) meanwhile are not part of this reconcile.
        busy = set(daemon._creating.values()) | (set(daemon._live) - {r.id for r in records})
        steps = plan(
            records,
            [c.record for c in inventory.containers],
            inventory.tasks,
            inventory.snapshots,
            daemon.owner,
            busy=busy,
        )
        # Steps concern one container each (or one snapshot): done side by side, as a
        # discarded task's kill may take a while to be reported.
        await asyncio.gather(*(_apply_logged(daemon, step, lcds) for step in steps))


async def _apply_logged(daemon: Daemon, step: Step, lcds: dict[str, LcdContainer]) -> None:
    if step.kind is not Kind.REATTACH:
        log.warning("restore: %s %s: %s", step.kind.value, step.id[:12], step.describe())
    try:
        await _apply(daemon, step, lcds)
    except (lcd_errors.LibcontainerdError, errors.DaemonError) as exc:
        log.error("restore: %s %s failed: %s", step.kind.value, step.id[:12], exc)


async def _apply(daemon: Daemon, step: Step, lcds: dict[str, LcdContainer]) -> None:
    if step.kind is Kind.ORPHAN_TASK:
        # Labelled ours, so that a rescue cut short is finished by the next restore.
        await daemon._client().rescue_orphan_task(step.id, {OWNER_LABEL: daemon.owner})
        return
    if step.kind is Kind.REMOVE_SNAPSHOT:
        await daemon._client().remove_snapshot(step.id)
        return
    if step.kind is Kind.REMOVE_CONTAINER:
        lcd = lcds[step.id]
        if lcd.found_task is None:
            await lcd.probe_task()  # a task the list left out must not be orphaned
        await lcd.delete()
        return
    live = daemon.find(step.id)
    if live is not None:
        await apply_to(daemon, live, step)


async def apply_to(daemon: Daemon, live: LiveContainer, step: Step) -> None:
    """One step of the plan for a container of the store (its lock is held)."""
    machine = live.machine
    if step.kind is Kind.FINISH_REMOVAL:
        await remove.finish_removal(daemon, live)
        return
    if step.kind is Kind.RECREATE:
        await _recreate(daemon, live, step.snapshot_exists)
        return
    assert live.lcd is not None
    if step.kind is Kind.LOST_TASK:
        found = await live.lcd.probe_task()
        if found is None:
            await daemon.netrt.teardown(live.id, timed=False)
            machine.apply(Input.EXITED, exit_code=step.exit_code)
            return
        await apply_task_steps(daemon, live, found)
        return
    if step.kind is Kind.DISCARD_TASK:
        await live.lcd.delete_task()
        await daemon.netrt.teardown(live.id, timed=False)
        machine.apply(Input.EXITED, exit_code=step.exit_code)
        return
    task = await live.lcd.attach_task()
    if task is None:
        return
    if step.kind is Kind.COLLECT_EXIT:
        task.stdio.close()  # nobody will read the output of this ended run
        exit_status = await task.delete()
        await daemon.netrt.teardown(live.id, timed=False)
        # A run whose start the store never heard of ran and ended: it shows as such.
        machine.apply(Input.STARTED, pid=step.pid)
        machine.apply(Input.EXITED, exit_code=exit_status.exit_code, at=exit_status.exited_at)
        return
    # REATTACH or ADOPT: the task runs, and so does the container.
    if not live.hub.running:
        start.start_copying(daemon, live, task)
        live.hub.open_stdin()  # it runs already
    if machine.apply(Input.STARTED, pid=step.pid):
        live.started_monotonic = time.monotonic()
    else:
        machine.apply(Input.REATTACHED, pid=step.pid)
    if step.task_status is TaskStatus.PAUSED:
        machine.apply(Input.PAUSED)
    else:
        machine.apply(Input.RESUMED)
    if live.model.state.running:
        daemon.health.start(live)


async def _recreate(daemon: Daemon, live: LiveContainer, snapshot_exists: bool) -> None:
    model = live.model
    try:
        if daemon.images is None:
            raise errors.Unavailable("the image service is not running")
        image = daemon.images.resolve(model.image_id)
        live.lcd = await create.new_lcd(daemon, model, image, exists=snapshot_exists)
    except (lcd_errors.LibcontainerdError, errors.DaemonError) as exc:
        live.machine.apply(Input.EXITED, exit_code=255)
        live.machine.apply(Input.BROKEN, error=f"containerd container lost: {exc}")
        raise
    # A task left without its container is reachable again (one Tasks.Get, here only).
    found = await live.lcd.probe_task()
    if found is None:
        live.machine.apply(Input.EXITED, exit_code=255)
        return
    await apply_task_steps(daemon, live, found)


async def apply_task_steps(
    daemon: Daemon, live: LiveContainer, found: TaskInfo, announce: bool = False
) -> None:
    """What a task found for `live` (by a Tasks.Get) asks for, applied; `announce` logs
    each step, for a task that appeared outside a restore."""
    state = live.model.state
    for step in task_steps(RecordView(live.id, state.status, state.recorded_exit), found):
        if announce:
            log.warning("%s %s: %s", step.kind.value, live.id[:12], step.describe())
        await apply_to(daemon, live, step)
