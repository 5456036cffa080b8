"""Helpers for the image service tests."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any

from daemon.images.compression import file_chunks
from daemon.images.service import ImageService
from libcontainerd.remote import RemoteClient
from libcontainerd.remote.content import RemoteContentStore
from libcontainerd.types import EventType, SnapshotSpec, StdioSpec
from tests.support.containerd import TestContainerd
from tests.support.lcd import connected, read_all, runtime_for, spec_for

_ids = itertools.count()


async def collect(stream: AsyncIterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [message async for message in stream]


async def load_file(service: ImageService, path: Path, quiet: bool = True) -> list[dict[str, Any]]:
    return await collect(service.load(file_chunks(path), quiet=quiet))


async def save_bytes(service: ImageService, names: list[str]) -> bytes:
    return b"".join([chunk async for chunk in service.save(names)])


def streams(messages: list[dict[str, Any]]) -> list[str]:
    return [m["stream"] for m in messages if "stream" in m]


async def run_in_container(
    containerd: TestContainerd, namespace: str, chain_id: str, args: list[str]
) -> bytes:
    """Runs `args` in a container whose rootfs sits on `chain_id`; returns its stdout."""
    cid = f"img-run-{next(_ids)}"
    async with connected(containerd, namespace=namespace) as (client, backend):
        container = await client.new_container(
            cid,
            spec_for(containerd, cid, args),
            runtime_for(containerd),
            SnapshotSpec(key=cid, parent=chain_id),
        )
        task = await container.new_task(StdioSpec(stdout=True, stderr=True))
        await task.start()
        assert task.stdio.stdout is not None
        output = await read_all(task.stdio.stdout)
        await backend.wait_for(cid, EventType.EXIT)
        await task.delete()
        await container.delete()
        return output


def content_of(service: ImageService) -> RemoteContentStore:
    """The whole content store of the service's namespace, to look into (the service's
    own view has only what the daemon uses)."""
    assert isinstance(service.client, RemoteClient)
    return RemoteContentStore(service.client.conn)
