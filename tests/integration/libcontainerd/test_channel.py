"""The channel to containerd (grpcio's C-core): cancelling, spawning, proxies, closing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest

from libcontainerd.digests import sha256_digest
from libcontainerd.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
    UnknownError,
    from_grpc,
)
from libcontainerd.remote import channel
from libcontainerd.remote.content import RemoteContentStore
from libcontainerd.remote.gen.containerd.services.tasks.v1 import WaitRequest
from libcontainerd.remote.leases import RemoteLeases
from libcontainerd.remote.rpc import Connection
from libcontainerd.types import TaskStatus
from tests.support.containerd import ImportedImage, TestContainerd, parse_prometheus, rpc_name
from tests.support.lcd import connected, started_task, unique_id

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "moorage-test-lcd-channel"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.NOT_FOUND, NotFoundError),
        (grpc.StatusCode.ALREADY_EXISTS, AlreadyExistsError),
        (grpc.StatusCode.FAILED_PRECONDITION, ConflictError),
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
        (grpc.StatusCode.UNAVAILABLE, UnavailableError),
        (grpc.StatusCode.INTERNAL, UnknownError),
    ],
)
def test_a_failed_call_becomes_the_typed_error_with_containerd_s_text(
    code: grpc.StatusCode, expected: type[Exception]
) -> None:
    failed = grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="container x: the reason"
    )
    error = from_grpc(failed, "x")
    assert type(error) is expected
    assert (str(error), error.container_id) == ("container x: the reason", "x")


async def test_cancelling_the_awaiting_task_ends_the_call_in_containerd(
    containerd: TestContainerd,
) -> None:
    """containerd locks an ingest while a Write stream is open on it: a second write to
    the same ref gets through only once the first call has ended on containerd's side."""
    conn = Connection(containerd.address, NAMESPACE)
    store = RemoteContentStore(conn)
    data = os.urandom(3 * 1024 * 1024)
    digest = sha256_digest(data)
    sent = asyncio.Event()

    async def stalls(offset: int) -> AsyncIterator[bytes]:
        yield data[: 1024 * 1024]
        await asyncio.Event().wait()  # never more: the call is open until cancelled
        yield b""

    def progress(offset: int) -> None:
        if offset >= 1024 * 1024:
            sent.set()

    try:
        async with RemoteLeases(conn).temporary():
            writing = asyncio.create_task(
                store.write("stall", digest, len(data), stalls, progress=progress)
            )
            await asyncio.wait_for(sent.wait(), 30)
            writing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await writing

            async def rest(offset: int) -> AsyncIterator[bytes]:
                yield data[offset:]

            assert await asyncio.wait_for(store.write("stall", digest, len(data), rest), 30)
            assert (await store.info(digest)).size == len(data)
            await store.delete(digest)
    finally:
        await conn.close()


async def _wait_calls(containerd: TestContainerd, metric: str) -> float:
    """Tasks.Wait calls containerd has started (or handled: ended, any status) so far."""
    return sum(
        sample.value
        for sample in parse_prometheus(await containerd.metrics_text())
        if sample.name == metric
        and rpc_name(sample.labels["grpc_service"], sample.labels["grpc_method"]) == "Tasks.Wait"
    )


async def _until_wait_calls(containerd: TestContainerd, metric: str, target: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while await _wait_calls(containerd, metric) < target:
        assert loop.time() < deadline, f"{metric} of Tasks.Wait stayed below {target}"
        await asyncio.sleep(0.05)


async def test_a_unary_call_in_flight_ends_in_containerd_on_cancel_and_on_close(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    """Tasks.Wait answers only once the task exits. A caller cancelled while it waits gets
    CancelledError and containerd sees the call end; so does the caller of one in flight
    when its connection is closed. The task itself runs on."""
    cid = unique_id("chan")
    async with connected(containerd) as (client, _):
        container, task = await started_task(
            client, containerd, busybox_image, cid, ["sleep", "300"]
        )
        other = Connection(containerd.address, client.namespace)
        try:
            started = await _wait_calls(containerd, "grpc_server_started_total")
            handled = await _wait_calls(containerd, "grpc_server_handled_total")
            waiting = asyncio.create_task(
                client.conn.stubs.tasks.wait(WaitRequest(container_id=cid))
            )
            await _until_wait_calls(containerd, "grpc_server_started_total", started + 1)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await _until_wait_calls(containerd, "grpc_server_handled_total", handled + 1)

            closed = asyncio.create_task(other.stubs.tasks.wait(WaitRequest(container_id=cid)))
            await _until_wait_calls(containerd, "grpc_server_started_total", started + 2)
            await other.close()
            with pytest.raises(asyncio.CancelledError):
                await closed
            await _until_wait_calls(containerd, "grpc_server_handled_total", handled + 2)
            assert task.status is TaskStatus.RUNNING
            assert dict(other.counts()) == {"Tasks.Wait": 1}
        finally:
            await other.close()
            await container.delete()


async def test_unary_calls_work_the_same_through_the_public_call_layer(
    containerd: TestContainerd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grpcio without the private names the unary fast path uses: every call takes
    grpc.aio's public layer, with the same answers, errors and count."""
    monkeypatch.setattr(channel, "_create_rpc_error", None)
    other = Connection(containerd.address, containerd.namespace)
    try:
        version = await other.stubs.version.version()
        assert version.version
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await other.stubs.tasks.wait(WaitRequest(container_id=unique_id("absent")))
        assert type(from_grpc(failed.value, "x")) is NotFoundError
        assert dict(other.counts()) == {"Version.Version": 1, "Tasks.Wait": 1}
        assert set(other.channel._routes.values()) == {channel._PUBLIC}  # the path taken
    finally:
        await other.close()


# Run in a process of its own: grpcio's threads are per process, and this one's other
# channels (other tests' clients) would keep them. The environment asks for a proxy and
# for grpcio's fork support; neither may take effect.
_CHILD = """
import asyncio, json, os, sys

def threads(): return len(os.listdir("/proc/self/task"))
def fds(): return len(os.listdir("/proc/self/fd"))

async def main(address):
    before = (threads(), fds())
    from libcontainerd.remote.gen.google.protobuf import Empty
    from libcontainerd.remote.rpc import Connection
    from grpc._cython import cygrpc

    conn = Connection(address, "moorage-test-lcd-channel")
    await conn.stubs.version.version(Empty())
    live = threads()
    calls = [asyncio.ensure_future(conn.stubs.version.version(Empty())) for _ in range(50)]
    spawned = [await asyncio.create_subprocess_exec("true") for _ in range(20)]
    exits = [await p.wait() for p in spawned]
    answered = sum(1 for v in await asyncio.gather(*calls) if v.version)
    await conn.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (threads(), fds()) != before and loop.time() < deadline:
        await asyncio.sleep(0.05)
    print(json.dumps({
        "fork_support": cygrpc.is_fork_support_enabled(), "live_threads": live,
        "exits": exits, "answered": answered, "counts": dict(conn.counts()),
        "before": before, "after": [threads(), fds()],
    }))

import uvloop
uvloop.run(main(sys.argv[1]))
"""


def test_spawning_with_calls_in_flight_and_closing_ends_grpcio_s_threads(
    containerd: TestContainerd,
) -> None:
    proxy = "http://127.0.0.1:9"  # (nothing listens there: a proxied call would fail)
    env = {
        **os.environ,
        "GRPC_ENABLE_FORK_SUPPORT": "1",
        "http_proxy": proxy,
        "https_proxy": proxy,
        "grpc_proxy": proxy,
        "no_grpc_proxy": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, containerd.address],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["fork_support"] is False
    assert seen["live_threads"] > 1  # (grpcio's threads did run)
    assert seen["exits"] == [0] * 20
    assert seen["answered"] == 50
    assert seen["counts"] == {"Version.Version": 51}
    assert seen["after"] == seen["before"], "a thread or fd of grpcio outlived the close"
