"""The channel to containerd (grpcio's C-core): cancelling, spawning, proxies, closing."""

from __future__ import annotations

import asyncio
import contextlib
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
from libcontainerd.remote import channel, h2unary
from libcontainerd.remote.content import RemoteContentStore
from libcontainerd.remote.gen.containerd.services.containers.v1 import (
    Container,
    ContainerRuntime,
    CreateContainerRequest,
    DeleteContainerRequest,
    GetContainerRequest,
)
from libcontainerd.remote.gen.containerd.services.events.v1 import (
    Envelope,
    PublishRequest,
    SubscribeRequest,
)
from libcontainerd.remote.gen.containerd.services.tasks.v1 import WaitRequest
from libcontainerd.remote.gen.google.protobuf import Any as ProtoAny
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


async def _wait_calls(containerd: TestContainerd, metric: str, method: str = "Tasks.Wait") -> float:
    """`method` calls containerd has started (or handled: ended, any status) so far."""
    return sum(
        sample.value
        for sample in parse_prometheus(await containerd.metrics_text())
        if sample.name == metric
        and rpc_name(sample.labels["grpc_service"], sample.labels["grpc_method"]) == method
    )


async def _until_wait_calls(
    containerd: TestContainerd, metric: str, target: float, method: str = "Tasks.Wait"
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while await _wait_calls(containerd, metric, method) < target:
        assert loop.time() < deadline, f"{metric} of {method} stayed below {target}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("bare", [True, False], ids=["bare-h2", "grpcio"])
async def test_a_unary_call_in_flight_ends_in_containerd_on_cancel_and_on_close(
    containerd: TestContainerd,
    busybox_image: ImportedImage,
    bare: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tasks.Wait answers only once the task exits. A caller cancelled while it waits gets
    CancelledError and containerd sees the call end; so does the caller of one in flight
    when its connection is closed. The task itself runs on. On either path a unary call
    takes: the bare HTTP/2 connection, or grpcio."""
    monkeypatch.setattr(channel, "BARE_UNARY", bare)
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
    """A grpcio without the private names the unary fast path uses: every call that does
    not go bare takes grpc.aio's public layer, with the same answers, errors and count."""
    monkeypatch.setattr(channel, "_create_rpc_error", None)
    monkeypatch.setattr(channel, "BARE_UNARY", False)
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


ROUTE_CREATE = "/containerd.services.containers.v1.Containers/Create"
SPEC = ProtoAny(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec", value=b"{}")


async def test_the_bare_connection_and_grpcio_answer_alike(
    containerd: TestContainerd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same calls on a client whose unary calls go bare (h2unary.py) and on one whose
    go through grpcio: the same answers, errors (code and containerd's text, with the
    characters gRPC escapes) and counts. A 120 kB container record is larger than the
    window containerd lets a request start with (64 kB): the bare client makes that
    create through grpcio; its Get answer comes back in many frames and reads."""
    clients = {}
    for bare in (True, False):
        monkeypatch.setattr(channel, "BARE_UNARY", bare)
        clients[bare] = Connection(containerd.address, containerd.namespace)
    labels = {f"label-{i}": "v" * 1000 for i in range(120)}
    seen = []
    try:
        for conn in clients.values():
            cid = unique_id("bare")
            record = Container(
                id=cid, labels=labels, runtime=ContainerRuntime(name="x.y"), spec=SPEC
            )
            await conn.stubs.containers.create(CreateContainerRequest(container=record))
            got = (await conn.stubs.containers.get(GetContainerRequest(id=cid))).container
            assert got is not None and (got.id, got.labels) == (cid, labels)
            await conn.stubs.containers.delete(DeleteContainerRequest(id=cid))
            absent = "absent-ü-" + cid  # (gRPC escapes what is not printable ASCII)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await conn.stubs.tasks.wait(WaitRequest(container_id=absent))
            error = from_grpc(failed.value, absent)
            seen.append((type(error), str(error).replace(cid, "ID"), dict(conn.counts())))
            assert absent in str(error)
        # (the path taken: on the bare client only the create went through grpcio)
        assert list(clients[True].channel._routes) == [ROUTE_CREATE]
        assert len(clients[False].channel._routes) == 4
    finally:
        for conn in clients.values():
            await conn.close()
    assert seen[0] == seen[1]
    assert seen[0][0] is NotFoundError


@pytest.mark.parametrize("bare", [True, False], ids=["bare-h2", "grpcio"])
async def test_a_call_while_containerd_is_not_there_fails_at_once_as_unavailable(
    tmp_path: Path, bare: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel, "BARE_UNARY", bare)
    conn = Connection(str(tmp_path / "no-containerd.sock"), NAMESPACE)
    loop = asyncio.get_running_loop()
    try:
        for _ in range(2):
            began = loop.time()
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await conn.stubs.version.version()
            assert loop.time() - began < 1.0
            assert type(from_grpc(failed.value)) is UnavailableError
        assert dict(conn.counts()) == {"Version.Version": 2}
    finally:
        await conn.close()


# Run in a process of its own: grpcio's threads are per process, and this one's other
# channels (other tests' clients) would keep them. The environment asks for a proxy and
# for grpcio's fork support; neither may take effect.
_CHILD = """
import asyncio, json, os, sys

def threads(): return len(os.listdir("/proc/self/task"))
def fds(): return len(os.listdir("/proc/self/fd"))

async def main(address):
    # libuv keeps one fd (/dev/null, its reserve for EMFILE) per loop from the loop's
    # first stream on: a stream made and closed first, so that it is counted before.
    import socket
    ours, theirs = socket.socketpair()
    transport, _ = await asyncio.get_running_loop().connect_accepted_socket(
        asyncio.Protocol, ours
    )
    transport.close()
    theirs.close()
    await asyncio.sleep(0)
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


SUBSCRIBE = "/containerd.services.events.v1.Events/Subscribe"
SUBSCRIBE_KEY = "Events.Subscribe"


async def _live_subscription(
    conn: Connection, topic: str, got: list[Envelope]
) -> asyncio.Task[None]:
    """A task reading `conn`'s subscription to `topic` (and its marker) into `got`, once a
    marker published after it opened has come back on it (the one way to know it is on)."""
    marker = f"{topic}-marker"
    filters = [f'topic=="{topic}"', f'topic=="{marker}"']
    seen = asyncio.Event()

    async def read() -> None:
        async for envelope in conn.stubs.events.subscribe(SubscribeRequest(filters=filters)):
            if envelope.topic == marker:
                seen.set()
            else:
                got.append(envelope)

    reading = asyncio.create_task(read())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not seen.is_set():
        assert loop.time() < deadline and not reading.done(), "the subscription never came up"
        await conn.stubs.events.publish(PublishRequest(topic=marker, event=ProtoAny("x", b"")))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(seen.wait(), 0.05)
    return reading


@pytest.mark.parametrize("bare", [True, False], ids=["bare-h2", "grpcio"])
async def test_the_event_stream_brings_every_event_in_order_past_its_window(
    containerd: TestContainerd, bare: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1.2 MB of events, some larger than an HTTP/2 frame (split across frames), some a
    few bytes (several to a frame), on a stream whose receive window is HTTP/2's default
    64 kB: the stream stalls unless the client gives the window back as it reads."""
    monkeypatch.setattr(channel, "BARE_UNARY", bare)
    monkeypatch.setattr(h2unary, "RECEIVE_WINDOW", h2unary.DEFAULT_WINDOW)
    conn = Connection(containerd.address, containerd.namespace)
    topic = "/moorage-test/" + unique_id("events")
    sizes = [40_000 if i % 3 == 0 else i % 7 for i in range(90)]
    values = [os.urandom(size) for size in sizes]
    got: list[Envelope] = []
    try:
        reading = await _live_subscription(conn, topic, got)
        before = dict(conn.counts())
        for value in values:
            await conn.stubs.events.publish(PublishRequest(topic=topic, event=ProtoAny("x", value)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(got) < len(values):
            assert loop.time() < deadline, f"{len(got)} of {len(values)} events came"
            assert not reading.done()
            await asyncio.sleep(0.02)
        assert [e.event.value if e.event else b"" for e in got] == values
        assert {e.topic for e in got} == {topic}
        assert dict(conn.counts()) == {
            "Events.Subscribe": 1,
            "Events.Publish": before["Events.Publish"] + len(values),
        }
        assert (SUBSCRIBE in {r for r, _ in conn.channel._callables}) is not bare  # the path
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
    finally:
        await conn.close()


@pytest.mark.parametrize("bare", [True, False], ids=["bare-h2", "grpcio"])
async def test_an_event_stream_ends_in_containerd_on_cancel_and_on_close(
    containerd: TestContainerd, bare: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader of the event stream cancelled: containerd sees the call end. A connection
    closed under a reader: the reader gets CancelledError and containerd sees the end."""
    monkeypatch.setattr(channel, "BARE_UNARY", bare)
    conns = [Connection(containerd.address, containerd.namespace) for _ in range(2)]
    topic = "/moorage-test/" + unique_id("ends")
    try:
        for n, conn in enumerate(conns, 1):
            got: list[Envelope] = []
            reading = await _live_subscription(conn, topic, got)
            # (taken with ours live: the ends of earlier tests' subscriptions are counted)
            handled = await _wait_calls(containerd, "grpc_server_handled_total", SUBSCRIBE_KEY)
            if n == 1:
                reading.cancel()
            else:
                await conn.close()
            with pytest.raises(asyncio.CancelledError):
                await reading
            await _until_wait_calls(
                containerd, "grpc_server_handled_total", handled + 1, SUBSCRIBE_KEY
            )
            assert dict(conn.counts())["Events.Subscribe"] == 1
    finally:
        for conn in conns:
            await conn.close()
