"""A second client finds running containers again, and the event stream survives containerd."""

from __future__ import annotations

import asyncio
import signal

import pytest

from libcontainerd.remote import RemoteContainer, channel
from libcontainerd.types import EventType, StdioSpec, TaskStatus
from tests.support.containerd import ImportedImage, TestContainerd, count_delta
from tests.support.lcd import (
    connected,
    new_container_on,
    read_all,
    spec_for,
    unique_id,
)

SUBSCRIBE = "/containerd.services.events.v1.Events/Subscribe"
ECHO_STDIN = ["sh", "-c", "read line; echo got $line; read line; exit 7"]


async def _start(
    client_container: RemoteContainer,
) -> None:
    task = await client_container.new_task(StdioSpec(stdin=True, stdout=True, stderr=True))
    await task.start()


async def test_restore_with_one_list_each(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    ids = [unique_id("restore") for _ in range(4)]
    digests = {}
    async with connected(containerd) as (first, _):
        for cid in ids:
            container = await new_container_on(
                first, containerd, busybox_image, cid, spec_for(containerd, cid, ECHO_STDIN)
            )
            digests[cid] = container.record.spec_digest
            await _start(container)
            task = container.task()
            assert task is not None
            # The first client goes away without touching the tasks, as a daemon would.
            task.stdio.close()

    async with connected(containerd) as (second, backend):
        before = dict(second.rpc_counts())
        restored = {c.id: c for c in (await second.restore()).containers}
        assert count_delta(before, dict(second.rpc_counts())) == {
            "Containers.List": 1,
            "Tasks.List": 1,
            "Snapshots.List": 1,
        }
        assert set(ids) <= set(restored)
        for cid in ids:
            container = restored[cid]
            assert container.record.snapshot_key == cid
            assert container.record.spec["process"]["args"] == ECHO_STDIN
            # containerd gives back the bytes it was given: a start after a restart knows
            # its rebuilt spec unchanged without an update.
            assert container.record.spec_digest == digests[cid] != b""
            task = await container.attach_task()
            assert task is not None and task.status is TaskStatus.RUNNING and task.pid > 0
            # The re-opened FIFOs still reach the process.
            assert task.stdio.stdin is not None and task.stdio.stdout is not None
            await task.stdio.stdin.write(b"again\n")
            assert await task.stdio.stdout.read() == b"got again\n"
        assert count_delta(before, dict(second.rpc_counts())) == {
            "Containers.List": 1,
            "Tasks.List": 1,
            "Snapshots.List": 1,
        }
        for cid in ids:
            task = restored[cid].task()
            assert task is not None
            await task.kill(signal.SIGKILL)
            info = await backend.wait_for(cid, EventType.EXIT)
            assert info.exit_code == 137
            await task.delete()
            await restored[cid].delete()
    remaining = await containerd.list_containers()
    assert not set(ids) & set(remaining)


async def _wait_gone(pid: int, timeout: float = 20.0) -> None:
    # Nothing signals the end of a process that is not our child: poll with a deadline.
    async with asyncio.timeout(timeout):
        while _alive(pid):  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("bare", [True, False], ids=["bare-h2", "grpcio"])
async def test_exit_during_containerd_restart_is_delivered_once(
    containerd: TestContainerd,
    busybox_image: ImportedImage,
    bare: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On either path the event stream takes (the bare HTTP/2 connection, or grpcio), its
    loss when containerd stops ends it so that the client subscribes again and hears of
    the exit it missed."""
    monkeypatch.setattr(channel, "BARE_UNARY", bare)
    cid = unique_id("gap")
    async with connected(containerd) as (client, backend):
        container = await new_container_on(
            client, containerd, busybox_image, cid, spec_for(containerd, cid, ECHO_STDIN)
        )
        await _start(container)
        task = container.task()
        assert task is not None and task.stdio.stdin is not None and task.stdio.stdout is not None
        subscriptions = client.subscriptions
        through_grpcio = {route for route, _ in client.conn.channel._callables}
        assert (SUBSCRIBE in through_grpcio) is not bare  # (the path taken)

        await containerd.supervisor.stop()
        # The shim outlives containerd; the FIFOs need no containerd, so the task can be
        # made to exit while containerd is down.
        await task.stdio.stdin.write(b"one\n")
        assert await task.stdio.stdout.read() == b"got one\n"
        await task.stdio.stdin.write(b"two\n")
        await _wait_gone(task.pid)
        assert backend.of(cid, EventType.EXIT) == []

        await containerd.supervisor.start()
        await client.wait_events_live()
        assert client.subscriptions == subscriptions + 1
        info = await backend.wait_for(cid, EventType.EXIT)
        assert info.exit_code == 7
        # A shim that re-sends its queued exit must not make it a second delivery; Tasks.Delete
        # settles the question, since no exit can follow it.
        status = await task.delete()
        assert status.exit_code == 7
        await client.events_idle()
        assert len(backend.of(cid, EventType.EXIT)) == 1
        await container.delete()
        assert await read_all(task.stdio.stdout) == b""


async def test_a_late_exit_of_an_earlier_run_leaves_the_current_task_running(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    """A client that never saw run 1's exit (a daemon started since) gets it late, as a
    shim re-sending it would: the task it tracks is run 2's, which keeps running."""
    cid = unique_id("late-exit")
    # Run 1 exits 3 and leaves a mark in the rootfs; run 2, seeing it, sleeps.
    twice = ["sh", "-c", "[ -e /ran ] && exec sleep 300; : > /ran; exit 3"]
    async with connected(containerd) as (first, backend):
        container = await new_container_on(
            first, containerd, busybox_image, cid, spec_for(containerd, cid, twice)
        )
        await _start(container)
        first_exit = await backend.wait_for(cid, EventType.EXIT)
        task = container.task()
        assert task is not None and first_exit.exit_code == 3
        await task.delete()
        run2 = await container.new_task(StdioSpec(stdout=True, stderr=True))
        await run2.start()
        run2.stdio.close()

    async with connected(containerd) as (second, backend):
        restored = {c.id: c for c in (await second.restore()).containers}
        task = await restored[cid].attach_task()
        assert task is not None and task.pid == run2.pid != first_exit.pid
        second._deliver(EventType.EXIT, first_exit)
        assert task.status is TaskStatus.RUNNING
        await task.kill(signal.SIGKILL)
        own_exit = await backend.wait_for(cid, EventType.EXIT, lambda i: i.pid == task.pid)
        assert (own_exit.exit_code, task.status) == (137, TaskStatus.STOPPED)
        await task.delete()
        await restored[cid].delete()
