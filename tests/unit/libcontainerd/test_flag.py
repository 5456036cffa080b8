"""Flag behaves as asyncio.Event does for its users: set wakes every waiter, a cancelled
waiter leaves the others waiting, clear makes later waits wait again."""

from __future__ import annotations

import asyncio

import pytest

from libcontainerd.flag import Flag


async def test_set_wakes_every_waiter_and_later_waits_return_at_once() -> None:
    flag = Flag()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert flag.is_set()
    await asyncio.wait_for(flag.wait(), 1)


async def test_a_cancelled_waiter_leaves_the_others_waiting() -> None:
    flag = Flag()
    first, second = asyncio.create_task(flag.wait()), asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not second.done()
    flag.set()
    await asyncio.wait_for(second, 1)


async def test_clear_makes_waits_wait_again_and_a_timeout_ends_one() -> None:
    flag = Flag(is_set=True)
    await asyncio.wait_for(flag.wait(), 1)
    flag.clear()
    assert not flag.is_set()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await flag.wait()
    waiter = asyncio.create_task(flag.wait())
    flag.set()
    await asyncio.wait_for(waiter, 1)
