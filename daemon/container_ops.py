"""``docker top`` and ``docker container prune``, on top of the Daemon's own operations."""

from __future__ import annotations

import logging
import weakref

from wire.container import ContainerPruneResponse, ContainerTopResponse

from . import errors
from .container.model import Status
from .daemon import Daemon
from .filters import FilterMap, prune_labels_match, prune_until
from .system_df import container_sizes
from .timefmt import parse_rfc3339
from .top import container_top, validate_ps_args

log = logging.getLogger(__name__)

PRUNE_FILTERS = frozenset({"label", "label!", "until"})

# Daemons with a prune under way: dockerd runs one at a time.
_pruning: weakref.WeakSet[Daemon] = weakref.WeakSet()


async def top(daemon: Daemon, ref: str, ps_args: str) -> ContainerTopResponse:
    """The container's processes as ``ps`` shows them; one Tasks.ListPids RPC."""
    validate_ps_args(ps_args)
    live = daemon.get(ref)
    state = live.model.state
    task = live.task
    if not state.running or task is None:
        raise errors.Conflict(f"Container {live.id} is not running")
    if state.status is Status.RESTARTING:
        raise errors.Conflict(
            f"Container {live.id} is restarting, wait until the container is running"
        )
    pids = [process.pid for process in await task.pids()]
    body = await container_top(pids, ps_args)
    daemon.container_event(live, "top")
    return body


async def prune(daemon: Daemon, filters: FilterMap) -> ContainerPruneResponse:
    """Remove every container that is not running and matches `filters` (label, label!,
    until); the reply body of ``POST /containers/prune``."""
    for key in sorted(filters):
        if key not in PRUNE_FILTERS:
            raise errors.InvalidParameter(f"Invalid filter '{key}'")
    until = prune_until(filters, errors.InvalidParameter)
    if daemon in _pruning:
        raise errors.Conflict("a prune operation is already running")
    _pruning.add(daemon)
    try:
        candidates = [
            live
            for live in daemon.containers()
            if not live.model.state.running
            and (until is None or _created(live.model.created) <= until)
            and prune_labels_match(filters, live.model.labels)
        ]
        # Measured before the removal, as dockerd counts each container's writable layer.
        sizes = await container_sizes(candidates)
        deleted: list[str] = []
        reclaimed = 0
        for live in candidates:
            try:
                await daemon.remove(live.id)
            except errors.DaemonError as exc:
                # As dockerd: a container that cannot go now is skipped, not fatal.
                log.warning("failed to prune container %s: %s", live.id, exc)
                continue
            deleted.append(live.id)
            reclaimed += sizes[live.id]
    finally:
        _pruning.discard(daemon)
    daemon.event("container", "prune", "", {"reclaimed": str(reclaimed)})
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def _created(created: str) -> float:
    stamp = parse_rfc3339(created)
    return 0.0 if stamp is None else stamp.seconds
