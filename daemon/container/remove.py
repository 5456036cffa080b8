"""`docker rm` (and AutoRemove): task, containerd container, snapshot, then the record.

Each step can be redone, and the record (status `removing`) stays until the rest is
gone, so a removal cut short is finished by the next restore.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from libcontainerd import errors as lcd_errors

from .. import errors
from ..network import legacy_links
from . import monitor, stop, volumes
from .live import LiveContainer
from .model import Status
from .state import Input
from .store import erase

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger(__name__)


async def remove(daemon: Daemon, ref: str, force: bool = False, volumes_too: bool = False) -> None:
    """`volumes_too` (``docker rm -v``): the container's anonymous volumes go with it."""
    live = daemon.get(ref)
    if live.model.state.status is Status.REMOVING:
        raise errors.Conflict(f"removal of container {live.id} is already in progress")
    if force:
        # The container is going away: no restart policy may bring it back.
        live.machine.apply(Input.STOP_REQUESTED)
        await monitor.cancel_restart(live)
    if live.model.state.running:
        if not force:
            raise errors.Conflict(
                f"You cannot remove a running container {live.id}. Stop the container "
                "before attempting removal or force remove"
            )
        try:
            await stop.kill_and_wait(live)
        except lcd_errors.LibcontainerdError as exc:
            raise errors.SystemError(
                f"Could not kill running container {live.id}, cannot remove - {exc}"
            ) from None
    async with live.lock:
        # `removing` is in place before containerd deletes anything (a daemon killed
        # after that has restore finish the removal), and synced while Containers.Delete
        # is in flight (sent already; containerd works on it meanwhile): durable before the answer.
        with daemon.store.syncing_later() as deferred:
            if not live.machine.apply(Input.REMOVING):
                raise errors.Conflict(f"removal of container {live.id} is already in progress")
        removing = asyncio.ensure_future(
            finish_removal(daemon, live, remove_volumes=volumes_too, files_later=True)
        )
        try:
            await asyncio.sleep(0)  # its first step sends Containers.Delete
            deferred.run()
        finally:
            deferred.close()  # (after a run, nothing is left)
            try:
                await removing
            except lcd_errors.LibcontainerdError as exc:
                live.machine.apply(Input.REMOVE_FAILED, error=str(exc))
                raise errors.SystemError(f"unable to remove container: {exc}") from None
    _erase_after_reply(daemon, live)


def _erase_after_reply(daemon: Daemon, live: LiveContainer) -> None:
    """The removed container's files go in the store's eraser thread (`erase_later`:
    unlink and rmtree wait on the filesystem, ~2 ms of `docker rm`'s 6, issue 13), handed
    to it at the loop's next turn: the reply is written in this one (the handler returns to the
    dispatcher with no await in between), so the thread's taking the GIL comes after it.
    `removing` is durable: a crash before the unlink lands has restore finish the
    removal, as after a power loss."""
    asyncio.get_running_loop().call_soon(daemon.store.erase_later, live.model.directory)


async def finish_removal(
    daemon: Daemon, live: LiveContainer, remove_volumes: bool = False, *, files_later: bool = False
) -> None:
    """Task, containerd container, snapshot, then the record; its files too, unless
    `files_later` (then they are the caller's: `_erase_after_reply`)."""
    if live.lcd is not None:
        with contextlib.suppress(lcd_errors.NotFoundError):
            await live.lcd.delete()
    else:
        # Its containerd container went first (a removal cut short): the snapshot may not.
        await daemon._client().remove_snapshot(live.id)
    await daemon.netrt.teardown(live.id, timed=False)  # networking: a stop cut short
    daemon.health.stop(live)
    daemon.execs.forget(live)
    daemon.networks.container_removed(live.id)  # networking hook: endpoints go
    await volumes.unmount(daemon, live)
    daemon.store.forget(live.model)
    daemon._live.pop(live.id, None)
    volumes.release(daemon, live.model, remove_anonymous=remove_volumes)
    live.machine.apply(Input.REMOVED)
    if not files_later:
        await asyncio.to_thread(erase, live.model.directory)  # off the loop: see _erase_after_reply


def spawn_auto_remove(daemon: Daemon, live: LiveContainer) -> None:
    """HostConfig.AutoRemove: the container goes once its run ended (or failed to start)."""
    daemon._background.spawn(_auto_remove(daemon, live), name=f"autoremove-{live.id[:12]}")


async def _auto_remove(daemon: Daemon, live: LiveContainer) -> None:
    try:
        await remove(daemon, live.id, force=True, volumes_too=True)  # as dockerd's AutoRemove
    except errors.DaemonError as exc:
        log.error("auto-remove of %s failed: %s", live.id[:12], exc)


def remove_link(daemon: Daemon, parent_ref: str, alias: str) -> None:
    """`docker rm --link parent/alias`: the parent keeps running, without that link."""
    name = f"{parent_ref}/{alias}"
    try:
        live = daemon.get(parent_ref)
    except errors.NotFound:
        raise errors.NotFound(f"No such container: {name}") from None
    links = [str(entry) for entry in live.model.host_config.get("Links") or []]
    kept = [entry for entry in links if legacy_links.parse(entry)[1] != alias]
    if len(kept) == len(links):
        raise errors.NotFound(f"No such container: {name}")
    live.model.host_config["Links"] = kept or None
    daemon.store.save(live.model)
