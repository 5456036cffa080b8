"""Reading a json-file log back: ``docker logs`` with tail, since/until and follow.

Rotated files are read oldest first (``path.N`` .. ``path.1``, then ``path``).
A follower keeps the file it is reading open, so a rotation never cuts it
short: it reads that file to its end, then moves on to the files that came
after it, which the writer's rotation count tells it about.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import BinaryIO

from daemon.logs.entry import LogEntry, decode_entry
from daemon.logs.jsonfile import JsonFileWriter

log = logging.getLogger(__name__)

_TAIL_BLOCK = 64 * 1024
# Lines handled in one go before giving other tasks a turn.
_BATCH_LINES = 512


async def read_logs(
    path: str,
    *,
    since: float | None = None,
    until: float | None = None,
    tail: int | None = None,
    follow: bool = False,
    stdout: bool = True,
    stderr: bool = True,
    stop: asyncio.Event | None = None,
    writer: JsonFileWriter | None = None,
) -> AsyncGenerator[LogEntry, None]:
    """Entries of the log at `path`, oldest first.

    `tail` counts entries back from the end across rotated files (None or
    negative: all; 0: none), before `since`/`until` (unix seconds, inclusive)
    and the stream choice apply, as in dockerd. Reading stops at the first entry
    after `until`.

    With `follow`, the reader then waits for entries that `writer` (the
    container's live writer) appends, until the writer is closed, `stop` is
    set, or `until` passes; after `stop` or a close it reads what is left and
    ends. Without a live writer or once `until` has passed there is nothing to
    follow, and the history is all it gets.
    """
    since_ns = _to_ns(since)
    until_ns = _to_ns(until)
    if follow and until_ns is not None and until_ns <= time.time_ns():
        follow = False
    following = follow and writer is not None

    generation = writer.generation if writer is not None else 0
    files = _open_all(path)
    queue: deque[BinaryIO] = deque(files)
    try:
        if tail is not None and tail >= 0:
            _seek_tail(queue, tail)
        finishing = False
        carry = b""
        while True:
            wakeup = writer.changed() if writer is not None else None
            entries: list[LogEntry] = []
            at_end = False
            if queue:
                carry, at_end = _read_lines(queue[0], carry, entries)
            else:
                at_end = True
            advance = False
            if at_end:
                # No await since the read that hit the end: a rotation seen now
                # happened before it, so the file just finished is complete.
                if len(queue) > 1:
                    queue.popleft().close()
                    carry = b""
                    advance = True
                elif following and writer is not None and writer.generation != generation:
                    rotations = writer.generation - generation
                    generation = writer.generation
                    if queue:
                        queue.popleft().close()
                    carry = b""
                    queue.extend(_open_successors(path, rotations))
                    advance = True
                elif following and not queue:
                    # The log did not exist when reading began.
                    queue.extend(_open_successors(path, 1))
                    advance = bool(queue)

            for entry in entries:
                if until_ns is not None and entry.time_ns > until_ns:
                    return
                if since_ns is not None and entry.time_ns < since_ns:
                    continue
                if (entry.stream == "stdout" and not stdout) or (
                    entry.stream == "stderr" and not stderr
                ):
                    continue
                yield entry
            if not at_end:
                await asyncio.sleep(0)
                continue
            if advance:
                continue
            if not following or finishing or writer is None or wakeup is None:
                return
            if writer.closed or (stop is not None and stop.is_set()):
                finishing = True
                continue
            timeout = None if until_ns is None else max(0.0, (until_ns - time.time_ns()) / 1e9)
            if not await _wait_any(wakeup, stop, timeout):
                return
    finally:
        for handle in queue:
            handle.close()


def _to_ns(seconds: float | None) -> int | None:
    if seconds is None:
        return None
    # Through the shortest decimal form, so 1.1 means 1.100000000 s exactly.
    return int(Decimal(repr(float(seconds))) * 1_000_000_000)


def _open_all(path: str) -> list[BinaryIO]:
    """The log and its rotated files, oldest first, opened together so the set is consistent."""
    names: list[str] = []
    index = 1
    while os.path.exists(f"{path}.{index}"):
        names.append(f"{path}.{index}")
        index += 1
    names.reverse()
    names.append(path)
    return _open_present(names)


def _open_successors(path: str, rotations: int) -> list[BinaryIO]:
    """After `rotations`, the file being read is ``path.<rotations>``: open the newer ones.

    Some may be rotated away already, where max-file is smaller than the rotations missed.
    """
    return _open_present([f"{path}.{index}" for index in range(rotations - 1, 0, -1)] + [path])


def _open_present(names: list[str]) -> list[BinaryIO]:
    """Opens those of `names` that still exist, in order."""
    files: list[BinaryIO] = []
    for name in names:
        try:
            files.append(open(name, "rb"))  # noqa: SIM115 - closed by the reader
        except FileNotFoundError:
            continue
    return files


def _read_lines(handle: BinaryIO, carry: bytes, out: list[LogEntry]) -> tuple[bytes, bool]:
    """Decode up to a batch of lines; returns the unfinished tail and whether the end was hit."""
    for _ in range(_BATCH_LINES):
        line = handle.readline()
        if not line:
            return carry, True
        if not line.endswith(b"\n"):
            # The writer has not finished this line; keep it for the next pass.
            carry += line
            return carry, True
        if carry:
            line, carry = carry + line, b""
        try:
            out.append(decode_entry(line))
        except ValueError as exc:
            log.warning("Skipping unreadable log line in %s: %s", handle.name, exc)
    return carry, False


def _seek_tail(queue: deque[BinaryIO], count: int) -> None:
    """Drop and position files so reading starts `count` entries before the end."""
    remaining = count
    for index in range(len(queue) - 1, -1, -1):
        handle = queue[index]
        if remaining == 0:
            handle.seek(0, os.SEEK_END)
            start = index
            break
        offset, found = _tail_offset(handle, remaining)
        handle.seek(offset)
        if found >= remaining:
            start = index
            break
        remaining -= found
    else:
        return
    for _ in range(start):
        queue.popleft().close()


def _tail_offset(handle: BinaryIO, count: int) -> tuple[int, int]:
    """Where the last `count` lines of a file begin, and how many lines were found.

    Fewer than `count` found means the whole file (offset 0).
    """
    end = handle.seek(0, os.SEEK_END)
    if end == 0:
        return 0, 0
    handle.seek(end - 1)
    # The newline ending the last line does not start another line.
    high = end - 1 if handle.read(1) == b"\n" else end
    found = 0
    while high > 0:
        low = max(0, high - _TAIL_BLOCK)
        handle.seek(low)
        block = handle.read(high - low)
        position = len(block)
        while (position := block.rfind(b"\n", 0, position)) >= 0:
            found += 1
            if found == count:
                return low + position + 1, count
        high = low
    return 0, found + 1


async def _wait_any(
    wakeup: asyncio.Event, stop: asyncio.Event | None, timeout: float | None
) -> bool:
    """Wait for new data or `stop`; False if `timeout` ran out first."""
    waiters = [asyncio.ensure_future(wakeup.wait())]
    if stop is not None:
        waiters.append(asyncio.ensure_future(stop.wait()))
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)
