"""The libcontainerd contract, the same test functions on both backends: `remote`
(containerd) and `local` (runc driven directly). Real containers on both."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from libcontainerd.types import (
    Client,
    Container,
    EventType,
    SnapshotSpec,
    StdioSpec,
    TaskStatus,
)
from tests.support.backends import BACKENDS, World, make_world
from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.lcd import read_all, spec_for, unique_id

ROOT_USER = {"uid": 0, "gid": 0}


@pytest_asyncio.fixture(params=BACKENDS, loop_scope="session")
async def world(
    request: pytest.FixtureRequest,
    containerd: TestContainerd,
    busybox_image: ImportedImage,
    tmp_path: Path,
) -> AsyncIterator[World]:
    yield await make_world(request.param, containerd, busybox_image, tmp_path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _process(args: list[str], **extra: Any) -> dict[str, Any]:
    return {"args": args, "cwd": "/", "env": ["PATH=/bin"], "user": ROOT_USER, **extra}


async def _container(
    client: Client, world: World, containerd: TestContainerd, cid: str, args: list[str], **spec: Any
) -> Container:
    full = spec_for(containerd, cid, args)
    for key, value in spec.items():
        full[key] = value
    return await client.new_container(
        cid, full, world.runtime, SnapshotSpec(key=cid, parent=world.parent)
    )


async def test_lifecycle_exit_code_and_output(world: World, containerd: TestContainerd) -> None:
    cid = unique_id(f"contract-{world.name}")
    async with world.connect() as (client, backend):
        container = await _container(
            client, world, containerd, cid, ["sh", "-c", "echo out; echo err >&2; exit 3"]
        )
        task = await container.new_task(StdioSpec(stdout=True, stderr=True))
        assert container.task() is task
        pid = await task.start()
        assert pid > 0
        assert task.stdio.stdout is not None and task.stdio.stderr is not None
        assert await read_all(task.stdio.stdout) == b"out\n"
        assert await read_all(task.stdio.stderr) == b"err\n"
        exited = await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "init")
        assert (exited.exit_code, exited.pid) == (3, pid)
        assert (await task.delete()).exit_code == 3
        await container.delete()
        kinds = backend.kinds(cid)
        assert kinds.index(EventType.CREATE) < kinds.index(EventType.START)
        assert kinds.index(EventType.START) < kinds.index(EventType.EXIT)


async def test_exec_with_stdin_and_with_a_tty(world: World, containerd: TestContainerd) -> None:
    cid = unique_id(f"contract-{world.name}")
    async with world.connect() as (client, backend):
        container = await _container(client, world, containerd, cid, ["sleep", "300"])
        task = await container.new_task(StdioSpec(stdout=True, stderr=True))
        await task.start()

        cat = await task.exec("cat", _process(["cat"]), StdioSpec(stdin=True))
        assert await cat.start() > 0
        assert cat.stdio.stdin is not None and cat.stdio.stdout is not None
        await cat.stdio.stdin.write(b"through stdin\n")
        await cat.close_stdin()
        assert await read_all(cat.stdio.stdout) == b"through stdin\n"
        done = await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "cat")
        assert done.exit_code == 0
        assert (await cat.delete()).exit_code == 0
        cat.stdio.close()

        tty = await task.exec(
            "tty",
            _process(["sh", "-c", "ls -l /proc/self/fd/0; read x; exit 4"], terminal=True),
            StdioSpec(stdin=True, stdout=True, terminal=True),
        )
        await tty.start()
        await tty.resize(100, 30)  # it waits for its input meanwhile
        assert tty.stdio.stdin is not None and tty.stdio.stdout is not None
        await tty.stdio.stdin.write(b"\n")
        assert b"/dev/pts/" in await read_all(tty.stdio.stdout)
        done = await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "tty")
        assert done.exit_code == 4
        await tty.delete()
        tty.stdio.close()

        # A child left holding the terminal does not hold up the exit of its parent.
        bg = await task.exec(
            "bg",
            _process(["sh", "-c", "sleep 60 & exit 5"], terminal=True),
            StdioSpec(stdout=True, terminal=True),
        )
        await bg.start()
        done = await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "bg")
        assert done.exit_code == 5
        await bg.delete()
        bg.stdio.close()

        assert backend.of(cid, EventType.EXEC_ADDED) and backend.of(cid, EventType.EXEC_STARTED)
        await task.kill(signal.SIGKILL)
        await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "init")
        await task.delete()
        await container.delete()


async def test_pause_stats_top_and_kill(world: World, containerd: TestContainerd) -> None:
    cid = unique_id(f"contract-{world.name}")
    async with world.connect() as (client, backend):
        container = await _container(client, world, containerd, cid, ["sleep", "300"])
        task = await container.new_task(StdioSpec(stdout=True, stderr=True))
        pid = await task.start()
        statuses = [task.status]

        metrics = await task.stats()
        assert metrics.cgroup_version == 1
        assert metrics.data.pids.current >= 1 and metrics.data.memory.usage.usage > 0
        assert pid in [p.pid for p in await task.pids()]

        await task.pause()
        await backend.wait_for(cid, EventType.PAUSED)
        statuses.append(task.status)
        await task.resume()
        await backend.wait_for(cid, EventType.RESUMED)
        statuses.append(task.status)
        assert statuses == [TaskStatus.RUNNING, TaskStatus.PAUSED, TaskStatus.RUNNING]

        await task.kill(signal.SIGTERM)  # sleep as pid 1 has no handler: ignored
        await task.kill(signal.SIGKILL)
        exited = await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "init")
        assert exited.exit_code == 137
        assert task.status is TaskStatus.STOPPED
        await task.delete()
        await container.delete()


async def test_oom_kill_is_reported_before_the_exit(
    world: World, containerd: TestContainerd
) -> None:
    cid = unique_id(f"contract-{world.name}")
    args = ["sh", "-c", "sleep 0.2; dd if=/dev/zero of=/dev/null bs=200M count=1"]
    async with world.connect() as (client, backend):
        container = await _container(client, world, containerd, cid, args)
        # The whole spec again (a remote record keeps only parts of it), with a limit.
        spec = spec_for(containerd, cid, args)
        spec["linux"]["resources"]["memory"] = {"limit": 20 * 1024 * 1024}
        before = container.record.spec_digest
        await container.update_spec(spec)
        assert container.record.spec_digest not in (b"", before)
        task = await container.new_task(StdioSpec(stdout=True, stderr=True))
        await task.start()
        await backend.wait_for(cid, EventType.OOM)
        exited = await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "init")
        assert exited.exit_code == 137
        if world.name == "local":  # the local backend orders them; containerd may not
            kinds = backend.kinds(cid)
            assert kinds.index(EventType.OOM) < kinds.index(EventType.EXIT)
        await task.delete()
        await container.delete()


ECHO_STDIN = ["sh", "-c", "echo before; read line; echo got $line; exec sleep 300"]


async def test_running_task_is_restored_with_its_stdio(
    world: World, containerd: TestContainerd
) -> None:
    cid = unique_id(f"contract-{world.name}")
    async with world.connect() as (first, _):
        container = await _container(first, world, containerd, cid, ECHO_STDIN)
        task = await container.new_task(StdioSpec(stdin=True, stdout=True, stderr=True))
        pid = await task.start()
        assert task.stdio.stdout is not None
        assert await task.stdio.stdout.read() == b"before\n"
        # The first client goes away without touching the task, as a daemon would.
        task.stdio.close()

    async with world.connect() as (second, backend):
        restored = {c.id: c for c in (await second.restore()).containers}
        found = restored[cid].found_task
        assert found is not None and (found.pid, found.status) == (pid, TaskStatus.RUNNING)
        again = await restored[cid].attach_task()
        assert again is not None and again.pid == pid
        # Its stdin stayed open meanwhile, and its output reaches the new reader.
        assert again.stdio.stdin is not None and again.stdio.stdout is not None
        await again.stdio.stdin.write(b"after\n")
        assert await again.stdio.stdout.read() == b"got after\n"
        # Its exit is seen by the client that did not start it, with the real code.
        await again.kill(signal.SIGKILL)
        exited = await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "init")
        assert (exited.exit_code, exited.pid) == (137, pid)
        assert (await again.delete()).exit_code == 137
        again.stdio.close()
        await restored[cid].delete()


async def test_exit_while_no_client_runs_keeps_its_code(
    world: World, containerd: TestContainerd
) -> None:
    cid = unique_id(f"contract-{world.name}")
    async with world.connect() as (first, _):
        container = await _container(
            first, world, containerd, cid, ["sh", "-c", "read line; exit 9"]
        )
        task = await container.new_task(StdioSpec(stdin=True, stdout=True))
        pid = await task.start()
        assert task.stdio.stdin is not None
        await task.stdio.stdin.write(b"go\n")
        task.stdio.close()
    # No client runs while the process ends.
    async with asyncio.timeout(20):
        while _alive(pid):  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    async with world.connect() as (second, _):
        restored = {c.id: c for c in (await second.restore()).containers}
        found = restored[cid].found_task
        assert found is not None
        assert (found.status, found.exit_code) == (TaskStatus.STOPPED, 9)
        again = await restored[cid].attach_task()
        assert again is not None
        assert (await again.delete()).exit_code == 9
        again.stdio.close()
        await restored[cid].delete()
