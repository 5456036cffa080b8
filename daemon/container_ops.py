"""``docker top`` and ``docker container prune``, on top of the Daemon's own operations."""

from __future__ import annotations

import logging
import weakref

from wire.container import ContainerPruneResponse, ContainerTopResponse

from . import errors
from .container.model import Status
from .daemon import Daemon
from .events import EventsBus
from .filters import FilterMap, prune_labels_match, prune_until
from .timefmt import parse_rfc3339
from .top import container_top, validate_ps_args

log = logging.getLogger(__name__)

PRUNE_FILTERS = frozenset({"label", "label!", "until"})

# Daemons with a prune under way: dockerd runs one at a time.
_pruning: weakref.WeakSet[Daemon] = weakref.WeakSet()


async def top(daemon: Daemon, ref: str, ps_args: str, events: EventsBus) -> ContainerTopResponse:
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
    events.publish_container("top", live.model)
    return body


async def prune(daemon: Daemon, filters: FilterMap, events: EventsBus) -> ContainerPruneResponse:
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
        deleted: list[str] = []
        for live in daemon.containers():
            model = live.model
            if model.state.running:
                continue
            if until is not None and _created(model.created) > until:
                continue
            if not prune_labels_match(filters, model.labels):
                continue
            try:
                await daemon.remove(model.id)
            except errors.DaemonError as exc:
                # As dockerd: a container that cannot go now is skipped, not fatal.
                log.warning("failed to prune container %s: %s", model.id, exc)
                continue
            deleted.append(model.id)
    finally:
        _pruning.discard(daemon)
    # moorage does not measure container layers, so nothing is counted as reclaimed.
    events.publish("container", "prune", "", {"reclaimed": "0"})
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": 0}


def _created(created: str) -> float:
    stamp = parse_rfc3339(created)
    return 0.0 if stamp is None else stamp.seconds
