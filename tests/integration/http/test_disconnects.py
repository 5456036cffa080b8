"""Clients that hang up in the middle of a long request leave nothing behind.

Each scenario opens a long-lived request (attach, ``logs -f``, wait, events)
against a container that stays silent, so that nothing but the hang-up itself
can end the daemon's side; then it disconnects, 200 times, in concurrent
batches. Afterwards the daemon's file descriptors (it runs in this process, so
``/proc/self/fd``), its asyncio tasks and futures, and containerd's tasks must
be back at the baseline taken after a warm-up. Some clients read the reply's head first,
others hang up at once, before the daemon has answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.daemon import RunningDaemon, running_daemon
from tests.support.resources import back_to, fd_count, future_count, settled, task_count

ROUNDS = 200
BATCH = 50
WARM_UP = 10


@dataclass
class Setup:
    daemon: RunningDaemon
    containerd: TestContainerd
    container_id: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def setup(containerd: TestContainerd, busybox_image: ImportedImage) -> AsyncIterator[Setup]:
    async with running_daemon(containerd, busybox_image) as daemon:
        code, out, err = await daemon.docker(
            "run", "-d", "--name", "quiet", "busybox", "sleep", "600"
        )
        assert code == 0, err
        try:
            yield Setup(daemon, containerd, out.strip())
        finally:
            await daemon.docker("rm", "-f", "quiet")


def _request(method: str, target: str, extra_headers: str = "") -> bytes:
    return (
        f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}Content-Length: 0\r\n\r\n"
    ).encode()


async def _hang_up(daemon: RunningDaemon, request: bytes, head: bytes | None) -> None:
    """Send ``request``; read the reply's head if ``head`` (its expected start); hang up."""
    reader, writer = await asyncio.open_unix_connection(str(daemon.socket))
    try:
        writer.write(request)
        await writer.drain()
        if head is not None:
            got = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            assert got.startswith(head), got
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _rounds(daemon: RunningDaemon, request: bytes, head: bytes, count: int) -> None:
    for start in range(0, count, BATCH):
        await asyncio.gather(
            *(
                # Every fourth client leaves before it has seen any reply.
                _hang_up(daemon, request, None if n % 4 == 0 else head)
                for n in range(start, min(start + BATCH, count))
            )
        )


async def _assert_flat_after(setup: Setup, request: bytes, head: bytes) -> None:
    daemon = setup.daemon
    await _rounds(daemon, request, head, WARM_UP)
    fds, tasks, futures = (
        await settled(fd_count),
        await settled(task_count),
        await settled(future_count),
    )
    containerd_tasks = len(await setup.containerd.list_tasks())

    await _rounds(daemon, request, head, ROUNDS)

    assert await back_to(fd_count, fds) <= fds, "file descriptors leaked"
    assert await back_to(task_count, tasks) <= tasks, [t.get_coro() for t in asyncio.all_tasks()]
    assert await back_to(future_count, futures) <= futures, "futures leaked"
    assert len(await setup.containerd.list_tasks()) == containerd_tasks
    # And the container is as it was: still running, still serving requests.
    code, out, err = await daemon.docker("inspect", "--format", "{{.State.Status}}", "quiet")
    assert (code, out.strip()) == (0, "running"), err


async def test_disconnect_mid_attach(setup: Setup) -> None:
    request = _request(
        "POST",
        f"/v1.41/containers/{setup.container_id}/attach?stream=1&stdout=1&stderr=1",
        "Connection: Upgrade\r\nUpgrade: tcp\r\n",
    )
    await _assert_flat_after(setup, request, b"HTTP/1.1 101")
    live = setup.daemon.services.daemon.get("quiet")
    assert await back_to(lambda: live.hub.client_count, 0) == 0


async def test_disconnect_mid_logs_follow(setup: Setup) -> None:
    request = _request("GET", "/v1.41/containers/quiet/logs?follow=1&stdout=1&stderr=1")
    await _assert_flat_after(setup, request, b"HTTP/1.1 200")


async def test_disconnect_mid_wait(setup: Setup) -> None:
    # By name, by full id and by short id: the daemon must let go of each kind of waiter.
    for ref in ("quiet", setup.container_id, setup.container_id[:12]):
        request = _request("POST", f"/v1.41/containers/{ref}/wait?condition=next-exit")
        await _assert_flat_after(setup, request, b"HTTP/1.1 200")


async def test_disconnect_mid_events(setup: Setup) -> None:
    if importlib.util.find_spec("api.routes.events") is None:
        pytest.skip("GET /events is not served yet (there is no api/routes/events.py)")
    request = _request("GET", "/v1.41/events")
    await _assert_flat_after(setup, request, b"HTTP/1.1 200")
