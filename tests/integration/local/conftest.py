"""The CLI tests of this package run against mooraged on the `local` backend (runc, no
containerd): a daemon per module, and `local` for every daemon a test starts itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.support import daemon as daemon_support
from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.daemon import RunningDaemon, running_daemon


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def daemon(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> AsyncIterator[RunningDaemon]:
    async with running_daemon(containerd, busybox_image, backend="local") as running:
        assert running.services.config.containerd_backend == "local"
        yield running


@pytest.fixture(autouse=True)
def local_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(daemon_support, "default_backend", "local")
    yield
