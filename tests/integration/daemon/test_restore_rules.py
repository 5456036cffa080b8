"""Restore's rules end to end, on states a crash (or another client of containerd) leaves:
a task started behind the daemon's back, a record whose containerd container is gone, a
removal cut short. The pure rules are unit-tested in tests/unit/daemon/test_reconcile.py."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from libcontainerd.remote import RemoteClient
from libcontainerd.remote.gen.containerd.services.containers.v1 import DeleteContainerRequest
from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.daemon import RunningDaemon, running_daemon


async def _leftovers(containerd: TestContainerd, cid: str) -> list[str]:
    left = [f"container {c}" for c in await containerd.list_containers() if c == cid]
    left += [f"task {t.id}" for t in await containerd.list_tasks() if t.id == cid]
    left += [f"snapshot {s}" for s in await containerd.list_snapshots() if s == cid]
    return left


async def _inspect(daemon: RunningDaemon, ref: str) -> dict[str, object]:
    status, body = await daemon.request("GET", f"/containers/{ref}/json")
    assert status == 200, body
    state: dict[str, object] = body["State"]
    return state


async def test_task_started_behind_the_daemons_back_is_adopted_and_removed(
    daemon: RunningDaemon, containerd: TestContainerd
) -> None:
    cid = (await daemon.docker_ok("create", "--name", "behind", "busybox", "sleep", "300")).strip()
    await containerd.ctr(
        "tasks", "start", "-d", "--null-io", "--fifo-dir", containerd.fifo_dir, cid
    )
    [task] = [t for t in await containerd.list_tasks() if t.id == cid]
    # The start event makes the daemon adopt it: poll for that, with a deadline.
    async with asyncio.timeout(20):
        while not (state := await _inspect(daemon, cid))["Running"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert (state["Status"], state["Pid"]) == ("running", task.pid)
    # What runs can be stopped, and removing it leaves no task without its container.
    code, _, err = await daemon.docker("stop", "-t", "1", "behind")
    assert code == 0, err
    assert (await _inspect(daemon, cid))["ExitCode"] == 137
    await daemon.docker_ok("rm", "behind")
    assert await _leftovers(containerd, cid) == []


async def test_record_whose_containerd_container_is_gone_is_recreated_on_its_rootfs(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    script = "cat /marker 2>/dev/null; echo run >> /marker"
    async with running_daemon(containerd, busybox_image) as first:
        code, out, _ = await first.docker("run", "--name", "rec", "busybox", "sh", "-c", script)
        assert (code, out) == (0, "")
        cid = (await first.docker_ok("inspect", "--format", "{{.Id}}", "rec")).strip()
        data_root = first.services.config.data_root
    # Gone while the daemon was away; its snapshot (the rootfs) stays.
    await containerd.ctr("containers", "rm", "--keep-snapshot", cid)
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        assert cid in await containerd.list_containers()
        code, out, _ = await second.docker("start", "-a", "rec")
        assert (code, out) == (0, "run\n")  # the same rootfs, with what the first run wrote
        await second.docker_ok("rm", "rec")
    assert await _leftovers(containerd, cid) == []


async def test_create_cut_short_after_its_record_landed_is_made_at_restart(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    # create makes its record durable while Snapshots.Prepare and Containers.Create are in
    # flight: a crash then leaves the record and neither containerd object.
    async with running_daemon(containerd, busybox_image) as first:
        cid = (await first.docker_ok("create", "--name", "cut", "busybox", "echo", "made")).strip()
        data_root = first.services.config.data_root
    await containerd.ctr("containers", "rm", cid)  # the snapshot with it
    assert await _leftovers(containerd, cid) == []
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        assert (await _inspect(second, "cut"))["Status"] == "created"
        code, out, _ = await second.docker("start", "-a", "cut")
        assert (code, out) == (0, "made\n")  # on a new rootfs from its image
        await second.docker_ok("rm", "cut")
    assert await _leftovers(containerd, cid) == []


async def test_removal_cut_short_is_finished_at_restart(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    async with running_daemon(containerd, busybox_image) as first:
        cid = (
            await first.docker_ok("run", "-d", "--name", "half", "busybox", "sleep", "300")
        ).strip()
        data_root = first.services.config.data_root
    # The daemon died just after writing `removing` (its first step), its task still running.
    state_file = data_root / "containers" / cid / "container.json"
    document = json.loads(state_file.read_text())
    document["state"]["status"] = "removing"
    state_file.write_text(json.dumps(document))
    assert [t.id for t in await containerd.list_tasks() if t.id == cid] == [cid]
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        status, _ = await second.request("GET", f"/containers/{cid}/json")
        assert status == 404
        assert await _leftovers(containerd, cid) == []
        assert not state_file.parent.exists()


async def test_removal_whose_record_a_power_loss_cut_keeps_the_record_before_it(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    async with running_daemon(containerd, busybox_image) as first:
        await first.docker_ok("run", "--name", "cut", "busybox", "true")
        cid = (await first.docker_ok("inspect", "--format", "{{.Id}}", "cut")).strip()
        data_root = first.services.config.data_root
    # `docker rm` swapped `removing` into place, then the power went before its sync: the
    # state file's name is on bytes that never reached the disk, the record it replaced
    # is whole under the temp name. The removal never answered.
    directory = data_root / "containers" / cid
    state_file, temp_file = directory / "container.json", directory / ".container.json.tmp"
    before = state_file.read_bytes()
    temp_file.write_bytes(before)
    state_file.write_bytes(before[: len(before) // 2])
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        state = await _inspect(second, "cut")
        assert (state["Status"], state["ExitCode"]) == ("exited", 0)
        code, out, _ = await second.docker("start", "-a", "cut")
        assert (code, out) == (0, "")
        await second.docker_ok("rm", "cut")
        # Its files go after the answer, in a background thread: poll, with a deadline.
        async with asyncio.timeout(20):
            while directory.exists():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    assert await _leftovers(containerd, cid) == []


async def test_task_whose_container_was_deleted_under_it_is_killed_at_restart(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    async with running_daemon(containerd, busybox_image) as first:
        cid = (
            await first.docker_ok("run", "-d", "--name", "orphaned", "busybox", "sleep", "300")
        ).strip()
        data_root = first.services.config.data_root
        # What daemons did before: the container record deleted under its running task.
        client = first.services.client
        assert isinstance(client, RemoteClient)
        await client.conn.stubs.containers.delete(DeleteContainerRequest(id=cid))
    shutil.rmtree(data_root / "containers" / cid)
    [task] = [t for t in await containerd.list_tasks() if t.id == cid]
    code, _, err = await _ctr_task_delete(containerd, cid)
    assert code != 0 and "not found" in err  # out of containerd's reach, as it was
    async with running_daemon(containerd, busybox_image, data_root=data_root):
        assert await _leftovers(containerd, cid) == []
        assert _gone(task.pid)


async def _ctr_task_delete(containerd: TestContainerd, cid: str) -> tuple[int, str, str]:
    result = await containerd.ctr("tasks", "delete", "-f", cid, check=False)
    return result.returncode, result.stdout, result.stderr


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True
