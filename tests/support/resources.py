"""What the in-process daemon holds, for tests that check it lets go: its fds, its
asyncio tasks and futures, its memory; waits for such counts to settle; and what it
logs meanwhile."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# How long the daemon gets to let go of what finished requests held.
RELEASE_DEADLINE = 15.0
# Counts are taken as settled when they did not move for this long.
QUIET_PERIOD = 1.0


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def task_count() -> int:
    return len(asyncio.all_tasks())


def future_count() -> int:
    # Tasks and bare futures (such as a wait's waiter) alike: what a request can leave behind.
    return sum(1 for obj in gc.get_objects() if isinstance(obj, asyncio.Future))


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def settled(sample: Callable[[], int]) -> int:
    """The value of ``sample`` once it stayed put for QUIET_PERIOD (within a deadline)."""
    deadline = time.monotonic() + RELEASE_DEADLINE
    value, since = sample(), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        now = sample()
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= QUIET_PERIOD:
            break
    return value


async def back_to(sample: Callable[[], int], baseline: int) -> int:
    """Poll ``sample`` until it is at most ``baseline``; the last value seen."""
    deadline = time.monotonic() + RELEASE_DEADLINE
    value = sample()
    while value > baseline and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        value = sample()
    return value


@contextmanager
def logged_warnings() -> Iterator[list[logging.LogRecord]]:
    """Warnings and errors logged meanwhile: the daemon's (failed background tasks
    included) and its loop's."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


def described(records: list[logging.LogRecord]) -> list[str]:
    """Log records as text that says what went wrong, for an assertion's message."""
    return [f"{r.name}: {r.getMessage()} {r.exc_info or ''}" for r in records]
