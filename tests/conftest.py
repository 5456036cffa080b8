"""Session fixtures: one private containerd and the busybox image imported into it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import uvloop

from tests.support.containerd import BUSYBOX_REF, ImportedImage, TestContainerd
from tests.support.images import write_docker_save
from tests.support.registry import auth_registry, registry

# Real registries (started on first use), shared by every test package.
__all__ = ["auth_registry", "registry"]


_ROOT = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # One axis: where a test lives says what it needs (`pytest -m unit` runs the fast ones).
    for item in items:
        kind = "unit" if (_ROOT / "unit") in item.path.parents else "integration"
        item.add_marker(kind)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    # mooraged runs on uvloop; the tests run the daemon in-process on the same loop kind.
    return {"uvloop": uvloop.new_event_loop}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def containerd() -> AsyncIterator[TestContainerd]:
    instance = TestContainerd.create()
    try:
        await instance.start()
        yield instance
    finally:
        await instance.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def busybox_image(containerd: TestContainerd) -> ImportedImage:
    archive = containerd.workdir / "images" / "busybox-docker-save.tar"
    archive.parent.mkdir(exist_ok=True)
    info = write_docker_save(archive, ["busybox:latest"])
    await containerd.import_image(archive)
    return ImportedImage(info=info, ref=BUSYBOX_REF, archive=archive)


@pytest.fixture(scope="session", autouse=True)
def host_network_untouched() -> Iterator[None]:
    """No test may leave moorage's bridge in the machine's own network namespace: links
    are made only by daemons in private namespaces (tests/support/netns.py)."""
    bridge = Path("/sys/class/net/moorage0")  # this process's sysfs: the host's namespace
    existed = bridge.exists()
    yield
    assert existed or not bridge.exists(), "a test made moorage0 in the host's namespace"
