"""Running transfers a few at a time (dockerd: 3 downloads, 5 uploads at once)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

MAX_CONCURRENT_DOWNLOADS = 3
MAX_CONCURRENT_UPLOADS = 5
MAX_DOWNLOAD_ATTEMPTS = 5  # tries of each layer download, the first one included


async def gather_limited(limit: int, jobs: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
    """Runs the jobs with at most `limit` at a time; results in job order.

    The first failure cancels the jobs still running or waiting and is raised as is
    (not wrapped in a group), so callers report the error that actually happened.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    tasks = [asyncio.ensure_future(run(job)) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
