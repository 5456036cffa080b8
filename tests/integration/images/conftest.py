"""An ImageService per test, each in a containerd namespace of its own."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest_asyncio

from daemon.images.image import ImageUse
from daemon.images.registry.client import Timeouts
from daemon.images.service import ImageService
from tests.support.containerd import TestContainerd
from tests.support.lcd import connected

_namespaces = itertools.count()


class Events:
    """Records what the service publishes."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    def __call__(self, action: str, actor: str, attributes: object) -> None:
        assert isinstance(attributes, dict)
        self.seen.append((action, actor, dict(attributes)))

    def actions(self) -> list[str]:
        return [action for action, _, _ in self.seen]


class Usage:
    """A fake of the daemon's containers: image ID -> users."""

    def __init__(self) -> None:
        self.users: dict[str, list[str | ImageUse]] = {}

    def __call__(self, image_id: str) -> list[str | ImageUse]:
        return list(self.users.get(image_id, []))


def new_service(data_root: Path) -> ImageService:
    return ImageService(data_root, registry_timeouts=Timeouts(connect=5, read_idle=5))


@asynccontextmanager
async def service_in(
    containerd: TestContainerd, namespace: str, data_root: Path
) -> AsyncIterator[ImageService]:
    """A started service on a client of its own in `namespace`, closed at the end."""
    async with connected(containerd, namespace=namespace) as (client, _):
        service = new_service(data_root)
        await service.start(client)
        yield service


@pytest_asyncio.fixture
async def namespace() -> str:
    return f"moorage-test-images-{next(_namespaces)}"


@pytest_asyncio.fixture
async def service(
    containerd: TestContainerd, namespace: str, tmp_path: Path
) -> AsyncIterator[ImageService]:
    async with service_in(containerd, namespace, tmp_path / "data") as svc:
        yield svc
