"""`Flag`: asyncio.Event's set, clear, is_set and wait, with nothing to wait on until a
waiter comes.

asyncio.Event makes its waiters' deque (~0.6 kB) at construction. A running container
had three of them (its task's "stopped", its stdio's "run ended", its log's "changed")
that nobody waits on for most of its life: ~2.3 kB of its ~30 kB (issue 13, RSS per
container with 200 running).
"""

from __future__ import annotations

import asyncio


class Flag:
    __slots__ = ("_set", "_waiter")

    def __init__(self, *, is_set: bool = False) -> None:
        self._set = is_set
        # One future all current waiters share, made by the first; a set resolves it.
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        """Until the flag is set (at once if it is). A cancelled waiter leaves the others
        waiting: they share a future that only `set` ends."""
        if self._set:
            return
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._waiter)
