"""Many lifecycles at once leave no error, no file descriptor and no containerd object behind."""

from __future__ import annotations

import asyncio
import os

from libcontainerd.remote import RemoteClient
from libcontainerd.types import EventType, SnapshotSpec, StdioSpec
from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.lcd import (
    RecordingBackend,
    connected,
    read_all,
    runtime_for,
    spec_for,
    unique_id,
)

CONCURRENT = 50


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _fd_targets() -> list[str]:
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return targets


async def _lifecycle(
    client: RemoteClient, backend: RecordingBackend, containerd: TestContainerd, parent: str
) -> None:
    cid = unique_id("many")
    container = await client.new_container(
        cid,
        spec_for(containerd, cid, ["sh", "-c", f"echo {cid}"]),
        runtime_for(containerd),
        SnapshotSpec(key=cid, parent=parent),
    )
    task = await container.new_task(StdioSpec(stdout=True, stderr=True))
    await task.start()
    assert task.stdio.stdout is not None
    assert await read_all(task.stdio.stdout) == f"{cid}\n".encode()
    await backend.wait_for(cid, EventType.EXIT, timeout=60)
    assert (await task.delete()).exit_code == 0
    await container.delete()


async def test_fifty_concurrent_lifecycles(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    parent = busybox_image.info.chain_ids[-1]
    containers_before = set(await containerd.list_containers())
    snapshots_before = set(await containerd.list_snapshots())
    async with connected(containerd) as (client, backend):
        # One warm-up lifecycle, so the fd count compares like with like (channel open).
        await _lifecycle(client, backend, containerd, parent)
        fds_before = _open_fds()
        await asyncio.gather(
            *(_lifecycle(client, backend, containerd, parent) for _ in range(CONCURRENT))
        )
        await client.events_idle()
        fifo_dir = str(containerd.workdir / "fifos")
        assert [t for t in _fd_targets() if t.startswith(fifo_dir)] == []
        # Other parts of the test process close their own fds lazily: let them settle.
        async with asyncio.timeout(10):
            while _open_fds() > fds_before:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    assert set(await containerd.list_containers()) == containers_before
    assert set(await containerd.list_snapshots()) == snapshots_before
    assert not list((containerd.workdir / "fifos").iterdir())
