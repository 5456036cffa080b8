"""A private network namespace with a mooraged (and its containerd) in it, per test module.

Every test here that makes bridges, veths or rules uses `netns_daemon`; the in-process
daemon of the other integration tests runs in the machine's own namespace and must not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.support.netns import NetnsDaemon, netns_daemon


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ns_daemon() -> AsyncIterator[NetnsDaemon]:
    async with netns_daemon() as daemon:
        yield daemon
