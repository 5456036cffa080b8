"""Helpers for driving libcontainerd directly in tests: a recording Backend, specs, runtimes."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any

from daemon.oci.defaults import default_spec
from libcontainerd.remote import RemoteClient
from libcontainerd.remote.container import RemoteContainer
from libcontainerd.remote.task import RemoteTask
from libcontainerd.types import EventInfo, EventType, RuntimeSpec, SnapshotSpec, StdioSpec
from tests.support.containerd import ImportedImage, TestContainerd

SHIM_V2 = "io.containerd.runc.v2"
SHIM_V1 = "io.containerd.runtime.v1.linux"
_ids = itertools.count()


def unique_id(prefix: str) -> str:
    # Random too: cgroup paths are host-wide, and another test session may run beside this one.
    return f"{prefix}-{next(_ids)}-{secrets.token_hex(3)}"


class RecordingBackend:
    """Keeps every event it is given and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[tuple[str, EventType, EventInfo]] = []
        self._changed = asyncio.Condition()

    async def process_event(
        self, container_id: str, event_type: EventType, info: EventInfo
    ) -> None:
        async with self._changed:
            self.events.append((container_id, event_type, info))
            self._changed.notify_all()

    def of(self, container_id: str, event_type: EventType | None = None) -> list[EventInfo]:
        return [
            info
            for cid, kind, info in self.events
            if cid == container_id and (event_type is None or kind is event_type)
        ]

    def kinds(self, container_id: str) -> list[EventType]:
        return [kind for cid, kind, _ in self.events if cid == container_id]

    async def wait_for(
        self,
        container_id: str,
        event_type: EventType,
        predicate: Callable[[EventInfo], bool] = lambda _: True,
        timeout: float = 20.0,
    ) -> EventInfo:
        def found() -> EventInfo | None:
            for info in self.of(container_id, event_type):
                if predicate(info):
                    return info
            return None

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        result = found()
        assert result is not None
        return result


def spec_for(
    containerd: TestContainerd, container_id: str, args: list[str], **process: Any
) -> dict[str, Any]:
    spec = default_spec(container_id, f"/{containerd.namespace}", args)
    spec["process"].update(process)
    return spec


def runtime_for(containerd: TestContainerd, shim: str = SHIM_V2) -> RuntimeSpec:
    # A runc state dir of our own, so nothing is shared with other containerds' shims.
    return RuntimeSpec(shim, root=str(containerd.workdir / "runc"))


async def new_container_on(
    client: RemoteClient,
    containerd: TestContainerd,
    image: ImportedImage,
    cid: str,
    spec: dict[str, Any],
    shim: str = SHIM_V2,
) -> RemoteContainer:
    """Container `cid` running `spec`, its rootfs a new snapshot of `image`'s top layer."""
    return await client.new_container(
        cid,
        spec,
        runtime_for(containerd, shim),
        SnapshotSpec(key=cid, parent=image.info.chain_ids[-1]),
    )


async def started_task(
    client: RemoteClient,
    containerd: TestContainerd,
    image: ImportedImage,
    cid: str,
    argv: list[str],
) -> tuple[RemoteContainer, RemoteTask]:
    """Container `cid` running `argv` with stdout and stderr, its task started."""
    container = await new_container_on(
        client, containerd, image, cid, spec_for(containerd, cid, argv)
    )
    task = await container.new_task(StdioSpec(stdout=True, stderr=True))
    await task.start()
    return container, task


@asynccontextmanager
async def connected(
    containerd: TestContainerd,
    backend: RecordingBackend | None = None,
    namespace: str | None = None,
    events: Collection[EventType] | None = None,
) -> AsyncIterator[tuple[RemoteClient, RecordingBackend]]:
    """A client of the test containerd, in its namespace or in `namespace`, giving its
    Backend the `events` (None: all)."""
    backend = backend or RecordingBackend()
    client = await RemoteClient.connect(
        containerd.address,
        namespace or containerd.namespace,
        backend,
        containerd.workdir / "fifos",
        events=events,
    )
    try:
        yield client, backend
    finally:
        await client.close()


async def read_all(stream: Any) -> bytes:
    data = b""
    while chunk := await stream.read():
        data += chunk
    return data
