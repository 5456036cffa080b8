"""Running a long image operation as a task and handing its output out as it comes.

The work runs in a task of its own, not in the caller's generator: its lease
(a context variable of the containerd connection) then stays inside it, its
concurrent parts can all report progress, and a client that goes away cancels
it cleanly. An error the work raises before its first message reaches the
caller at the first `__anext__`, so an HTTP layer can still answer with a status
code; one raised later ends the iteration with that error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Done(Generic[T]):
    pass


async def run_streaming(
    work: Callable[[Callable[[T], None]], Coroutine[Any, Any, None]],
) -> AsyncIterator[T]:
    """Runs `work(emit)` and yields whatever it emits, in order, until it ends."""
    queue: asyncio.Queue[T | _Done[T]] = asyncio.Queue()
    done: _Done[T] = _Done()
    task = asyncio.create_task(work(queue.put_nowait))
    task.add_done_callback(lambda _: queue.put_nowait(done))
    try:
        while True:
            item = await queue.get()
            if item is done:
                break
            yield item  # type: ignore[misc]
        task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait([task])


async def run_byte_stream(
    work: Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]],
    *,
    chunk: int = 256 * 1024,
    depth: int = 16,
) -> AsyncIterator[bytes]:
    """Runs `work(write)` and yields the bytes it writes, in chunks of about `chunk`.

    At most `depth` chunks wait for the consumer: a slow client slows the writer down
    instead of the daemon buffering the whole stream.
    """
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=depth)
    pending = bytearray()

    async def write(data: bytes) -> None:
        pending.extend(data)
        if len(pending) >= chunk:
            await queue.put(bytes(pending))
            pending.clear()

    async def run() -> None:
        await work(write)
        if pending:
            await queue.put(bytes(pending))

    task = asyncio.create_task(run())
    task.add_done_callback(lambda _: _put_end(queue))
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            yield item
        task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait([task])


def _put_end(queue: asyncio.Queue[bytes | None]) -> None:
    # The queue may be full when the work failed; the end mark must get in regardless.
    try:
        queue.put_nowait(None)
    except asyncio.QueueFull:
        asyncio.get_running_loop().call_later(0.01, _put_end, queue)
