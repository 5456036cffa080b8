"""Sampling one container for ``GET /containers/{id}/stats``, as dockerd paces it.

dockerd's stats collector samples every second; a client gets each sample with
the one before it as ``precpu_stats``/``preread``, from which CPU % is
computed. Without ``stream`` dockerd waits for a second sample, so that the
single reply carries a real ``precpu`` (``one-shot`` skips that wait). A
container that is not running is sent zeroed stats: once without ``stream``,
every second with it, until the container is removed.

Each sample of a running container costs one Tasks.Metrics RPC.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator

from libcontainerd import errors as lcd_errors
from wire.stats import StatsJSON

from . import errors
from .container.live import LiveContainer
from .container.model import Status
from .daemon import Daemon
from .stats import (
    empty_stats_json,
    host_memory_total,
    read_host_cpu,
    read_network_stats,
    stats_json,
)

SAMPLE_INTERVAL = 1.0

Stats = StatsJSON


@functools.cache
def _machine_memory() -> int:
    # The host's RAM does not change while the daemon runs.
    return host_memory_total()


class StatsSampler:
    """Samples of one container; each is given the previous one as its ``pre`` figures."""

    def __init__(self, daemon: Daemon, live: LiveContainer, interval: float = SAMPLE_INTERVAL):
        self._daemon = daemon
        self._live = live
        self._interval = interval
        self._previous: Stats | None = None

    def _samplable(self) -> bool:
        state = self._live.model.state
        return state.running and state.status is not Status.RESTARTING

    async def sample(self) -> Stats:
        """The next sample; zeroed when the container is not running (or stops meanwhile)."""
        model = self._live.model
        task = self._live.task
        current: Stats | None = None
        if self._samplable() and task is not None:
            try:
                metrics = await task.stats()
            except lcd_errors.LibcontainerdError:
                pass  # the task went away between the check and the RPC
            else:
                current = stats_json(
                    metrics,
                    name=model.name,
                    container_id=model.id,
                    # Read right after the container's figures, as dockerd does, so
                    # that both deltas cover the same interval.
                    host=read_host_cpu(),
                    machine_memory=_machine_memory(),
                    previous=self._previous,
                )
                if self._daemon.netrt.has_endpoints(model.id):
                    networks = read_network_stats(model.state.pid)
                    if networks:
                        current["networks"] = networks
        if current is None:
            current = empty_stats_json(
                name=model.name, container_id=model.id, previous=self._previous
            )
        self._previous = current
        return current

    async def once(self, one_shot: bool) -> Stats:
        """The reply for ``stream=false``."""
        if not self._samplable():
            # dockerd answers at once, without any earlier sample to compare with.
            return empty_stats_json(name=self._live.model.name, container_id=self._live.id)
        first = await self.sample()
        if one_shot:
            return first
        await asyncio.sleep(self._interval)
        return await self.sample()

    async def stream(self) -> AsyncGenerator[Stats, None]:
        """A sample now and then one every interval, until the container is removed."""
        while self._exists():
            yield await self.sample()
            await asyncio.sleep(self._interval)

    def _exists(self) -> bool:
        try:
            return self._daemon.get(self._live.id) is self._live
        except errors.NotFound:
            return False
