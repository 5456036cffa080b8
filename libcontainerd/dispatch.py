"""Delivery of events to the Backend: in order per container, concurrently across them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from .types import Backend, EventInfo, EventType

log = logging.getLogger(__name__)


class Dispatcher:
    """One short-lived worker per container with pending events; none while idle."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._queues: dict[str, deque[tuple[EventType, EventInfo]]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        # Cleared while a restore is reading containerd's state, so that the Backend never
        # hears of a container before the restore that returns it.
        self._open = asyncio.Event()
        self._open.set()

    def submit(self, event_type: EventType, info: EventInfo) -> None:
        queue = self._queues.get(info.container_id)
        if queue is not None:
            queue.append((event_type, info))
            return
        self._queues[info.container_id] = deque([(event_type, info)])
        worker = asyncio.get_running_loop().create_task(self._drain(info.container_id))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _drain(self, container_id: str) -> None:
        queue = self._queues[container_id]
        try:
            while queue:
                await self._open.wait()
                event_type, info = queue[0]
                try:
                    await self._backend.process_event(container_id, event_type, info)
                except Exception:
                    log.exception("backend failed on %s event of %s", event_type, container_id)
                queue.popleft()
        finally:
            del self._queues[container_id]

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def idle(self) -> None:
        """Wait until every submitted event has been handled."""
        while self._workers:
            await asyncio.gather(*list(self._workers), return_exceptions=True)

    async def close(self) -> None:
        for worker in list(self._workers):
            worker.cancel()
        for worker in list(self._workers):
            with contextlib.suppress(asyncio.CancelledError):
                await worker
