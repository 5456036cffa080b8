"""A mooraged for each build test module, on the session's containerd."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.daemon import RunningDaemon, running_daemon


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def daemon(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> AsyncIterator[RunningDaemon]:
    async with running_daemon(containerd, busybox_image) as running:
        yield running
