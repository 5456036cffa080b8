"""Copying a process's output stream to the log and to attached clients.

One `copy_stream` task per stream (stdout, stderr, or the single TTY stream)
reads the FIFO once and hands every chunk to each sink: the log writer's
`write` and one callback per attached client. Nothing else reads the FIFO,
so every consumer sees the same bytes in the same order.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)

# Called with (stream name, chunk); b"" once, when the stream has ended. A sink
# may be a coroutine function: it is awaited, which holds back the reading of
# the stream (and so the process, once the pipe fills) until it returns.
Sink = Callable[[str, bytes], Awaitable[object] | None]


class Readable(Protocol):
    async def read(self) -> bytes: ...


async def copy_stream(reader: Readable, stream_name: str, sinks: list[Sink]) -> None:
    """Fan `reader`'s chunks out to `sinks` until end of stream, then send each b"".

    `sinks` is read afresh for every chunk: append a client's callback to attach
    it and remove it to detach. A sink that raises is removed (a client that
    went away must not stop the log).
    """
    while True:
        try:
            chunk = await reader.read()
        except OSError as exc:
            log.error("Error reading %s of the process: %s", stream_name, exc)
            chunk = b""
        for sink in list(sinks):
            await _deliver(sink, stream_name, chunk, sinks)
        if not chunk:
            return


async def _deliver(sink: Sink, stream_name: str, chunk: bytes, sinks: list[Sink]) -> None:
    try:
        result = sink(stream_name, chunk)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.warning("Dropping %s consumer %r after an error", stream_name, sink, exc_info=True)
        if sink in sinks:
            sinks.remove(sink)
