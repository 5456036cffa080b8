"""A whole container lifecycle through libcontainerd, on both shims, at the RPC floor."""

from __future__ import annotations

import signal

import pytest

from libcontainerd.types import EventType, SnapshotSpec, StdioSpec, TaskStatus
from tests.support.containerd import ImportedImage, TestContainerd, count_delta
from tests.support.lcd import (
    SHIM_V1,
    SHIM_V2,
    connected,
    new_container_on,
    read_all,
    runtime_for,
    spec_for,
    started_task,
    unique_id,
)

ROOT = {"uid": 0, "gid": 0}
LIFECYCLE_RPCS = {
    "Snapshots.Prepare": 1,
    "Containers.Create": 1,
    "Tasks.Create": 1,
    "Tasks.Start": 2,  # the task, then the exec
    "Tasks.Exec": 1,
    "Tasks.DeleteProcess": 1,
    "Tasks.Metrics": 1,
    "Tasks.ListPids": 1,
    "Tasks.Pause": 1,
    "Tasks.Resume": 1,
    "Tasks.Kill": 1,
    "Tasks.Delete": 1,
    "Containers.Delete": 1,
    "Snapshots.Remove": 1,
}


@pytest.mark.parametrize("shim", [SHIM_V2, SHIM_V1])
async def test_full_lifecycle_costs_exactly_the_budget(
    containerd: TestContainerd, busybox_image: ImportedImage, shim: str
) -> None:
    cid = unique_id("life")
    async with connected(containerd) as (client, backend):
        before_client = dict(client.rpc_counts())
        before_server = await containerd.grpc_counts()

        container = await client.new_container(
            cid,
            spec_for(containerd, cid, ["sh", "-c", "echo started; exec sleep 300"]),
            runtime_for(containerd, shim),
            SnapshotSpec(key=cid, parent=busybox_image.info.chain_ids[-1]),
            image=busybox_image.ref,
        )
        task = await container.new_task(StdioSpec(stdout=True, stderr=True))
        assert container.task() is task
        pid = await task.start()
        assert pid > 0 and task.status is TaskStatus.RUNNING
        assert task.stdio.stdout is not None
        assert await task.stdio.stdout.read() == b"started\n"

        process = await task.exec(
            "exec-echo",
            {
                "args": ["echo", "hi"],
                "cwd": "/",
                "env": ["PATH=/bin"],
                "user": {"uid": 0, "gid": 0},
            },
            StdioSpec(stdout=True, stderr=True),
        )
        assert await process.start() > 0
        assert process.stdio.stdout is not None
        assert await read_all(process.stdio.stdout) == b"hi\n"
        exec_exit = await backend.wait_for(
            cid, EventType.EXIT, lambda i: i.process_id == "exec-echo"
        )
        assert exec_exit.exit_code == 0
        assert set(task.processes) == {"exec-echo"}
        assert (await process.delete()).exit_code == 0
        # Deleted, it is no longer the task's: a reconcile after an event gap asks
        # containerd only about the execs that still exist.
        assert task.processes == {}
        process.stdio.close()

        metrics = await task.stats()
        assert metrics.cgroup_version in (1, 2)
        assert metrics.data.pids.current >= 1
        pids = await task.pids()
        assert pid in [p.pid for p in pids]

        await task.pause()
        await backend.wait_for(cid, EventType.PAUSED)
        await task.resume()
        await backend.wait_for(cid, EventType.RESUMED)

        await task.kill(signal.SIGKILL)
        exit_info = await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "init")
        assert exit_info.exit_code == 137 and exit_info.pid == pid
        status = await task.delete()
        assert status.exit_code == 137
        await container.delete()

        client_delta = count_delta(before_client, dict(client.rpc_counts()))
        server_delta = count_delta(before_server, await containerd.grpc_counts())

    assert client_delta == LIFECYCLE_RPCS
    # The v1 shim reports its events by calling containerd's Events service itself;
    # those calls are the shim's, not the client's.
    shim_calls = {k: v for k, v in server_delta.items() if k.startswith("Events.")}
    if shim == SHIM_V2:
        assert shim_calls == {}
    assert {k: v for k, v in server_delta.items() if k not in shim_calls} == LIFECYCLE_RPCS
    assert cid not in await containerd.list_containers()
    assert cid not in await containerd.list_snapshots()
    kinds = backend.kinds(cid)
    assert kinds.index(EventType.CREATE) < kinds.index(EventType.START)
    assert kinds[-1] is EventType.EXIT


async def test_a_backend_is_given_only_the_events_it_takes(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    """The daemon's client names the events its Backend acts on; the others (create,
    exec-added, exec-started here) never reach it, while the client's own view of the
    task (running, then its exit) stays whole."""
    cid = unique_id("events")
    taken = {EventType.EXIT, EventType.OOM}
    async with connected(containerd, events=taken) as (client, backend):
        container = await new_container_on(
            client, containerd, busybox_image, cid, spec_for(containerd, cid, ["sleep", "300"])
        )
        task = await container.new_task(StdioSpec())
        pid = await task.start()
        process = await task.exec(
            "exec-true",
            {"args": ["true"], "cwd": "/", "env": ["PATH=/bin"], "user": ROOT},
            StdioSpec(),
        )
        await process.start()
        await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "exec-true")
        assert (await process.delete()).exit_code == 0
        process.stdio.close()
        assert task.status is TaskStatus.RUNNING
        # What the client keeps to deliver a task's exit once holds no exec's: a running
        # container's execs must not add to it for as long as it runs.
        assert not [key for key in client._exits_seen if key[0] == cid]
        await task.kill(signal.SIGKILL)
        exit_info = await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "init")
        assert exit_info.pid == pid
        assert (await task.delete()).exit_code == 137
        task.stdio.close()
        await container.delete()
    assert backend.kinds(cid) == [EventType.EXIT, EventType.EXIT]


async def test_oom_event_then_exit(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    cid = unique_id("oom")
    # The shim listens for the cgroup's OOM notification only once `runc start` has
    # returned, just before Tasks.Start answers; a process that ran out of memory before
    # then was killed unseen, and no /tasks/oom ever came (under load, 2 runs in 40). So
    # the allocation waits for a line sent after the start's answer. (The daemon does not
    # rely on the event alone: an exit by SIGKILL reads the cgroup's OOM count.)
    argv = ["sh", "-c", "read go && exec dd if=/dev/zero of=/dev/null bs=200M count=1"]
    spec = spec_for(containerd, cid, argv)
    spec["linux"]["resources"]["memory"] = {"limit": 20 * 1024 * 1024, "swap": 20 * 1024 * 1024}
    async with connected(containerd) as (client, backend):
        container = await new_container_on(client, containerd, busybox_image, cid, spec)
        task = await container.new_task(StdioSpec(stdin=True, stdout=True, stderr=True))
        await task.start()
        assert task.stdio.stdin is not None
        await task.stdio.stdin.write(b"go\n")
        exit_info = await backend.wait_for(cid, EventType.EXIT)
        # The shim watches the OOM eventfd and reaps the process in separate goroutines,
        # so the two events may come in either order; both must come.
        await backend.wait_for(cid, EventType.OOM)
        await task.delete()
        await container.delete()
    assert exit_info.exit_code == 137
    assert backend.kinds(cid).count(EventType.OOM) >= 1


async def test_stdin_and_tty(containerd: TestContainerd, busybox_image: ImportedImage) -> None:
    cid = unique_id("stdio")
    async with connected(containerd) as (client, backend):
        container, task = await started_task(
            client, containerd, busybox_image, cid, ["sh", "-c", "sleep 300"]
        )

        cat = await task.exec(
            "cat",
            {"args": ["cat"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}},
            StdioSpec(stdin=True, stdout=True, stderr=True),
        )
        await cat.start()
        assert cat.stdio.stdin is not None and cat.stdio.stdout is not None
        await cat.stdio.stdin.write(b"through the fifo\n")
        await cat.close_stdin()
        assert await read_all(cat.stdio.stdout) == b"through the fifo\n"
        await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "cat")
        assert (await cat.delete()).exit_code == 0
        cat.stdio.close()

        tty = await task.exec(
            "tty",
            {
                "args": ["sh", "-c", "read line; stty size"],
                "cwd": "/",
                "env": ["PATH=/bin"],
                "terminal": True,
                "user": {"uid": 0, "gid": 0},
            },
            StdioSpec(stdin=True, stdout=True, terminal=True),
        )
        assert tty.stdio.stderr is None
        await tty.start()
        await tty.resize(100, 30)
        assert tty.stdio.stdin is not None and tty.stdio.stdout is not None
        await tty.stdio.stdin.write(b"go\n")
        output = await read_all(tty.stdio.stdout)
        assert b"30 100\r\n" in output  # the new size, with the pty's \r\n line ends
        await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "tty")
        await tty.delete()
        tty.stdio.close()

        await task.kill(signal.SIGKILL)
        await backend.wait_for(cid, EventType.EXIT, lambda i: i.process_id == "init")
        await task.delete()
        await container.delete()


async def test_a_task_seen_to_exit_reports_its_exit_code_until_deleted(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    cid = unique_id("probe")
    async with connected(containerd) as (client, backend):
        container, task = await started_task(
            client, containerd, busybox_image, cid, ["sh", "-c", "exit 7"]
        )
        await backend.wait_for(cid, EventType.EXIT)
        # Known from the exit event: no RPC, and the real code, not a zero.
        found = await container.probe_task()
        assert found is not None
        assert (found.status, found.exit_code) == (TaskStatus.STOPPED, 7)
        task.stdio.close()
        await task.delete()
        await container.delete()
