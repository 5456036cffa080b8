"""What only the local backend has to show: `docker info` names it, and its containers,
their output and their exit codes outlive a daemon killed with SIGKILL (the monitors
keep them, see DESIGN.md)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.support.containerd import ImportedImage, TestContainerd, sweep
from tests.support.daemon import RunningDaemon, docker_env, running_daemon
from tests.support.images import (
    Dir,
    File,
    build_busybox_layer,
    build_image,
    build_layer,
    file_layer,
    write_docker_save,
)
from tests.support.mooraged import Mooraged


@pytest_asyncio.fixture(loop_scope="session")
async def workdir() -> AsyncIterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="local-"))
    try:
        yield path
    finally:
        await asyncio.to_thread(sweep, str(path))


async def test_info_names_the_local_backend(daemon: RunningDaemon) -> None:
    fmt = "{{.ContainerdCommit.ID}}|{{.RuncCommit.ID}}"
    containerd, runc = (await daemon.docker_ok("info", "--format", fmt)).strip().split("|")
    assert containerd == "none (local backend: runc without containerd)"
    assert runc  # runc's own commit, from `runc --version`
    assert "containerd version: none (local backend" in await daemon.docker_ok("info")


async def _wait_log(daemon: Mooraged, name: str, text: str) -> None:
    async with asyncio.timeout(20):
        while text not in (await daemon.docker("logs", name))[1]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_containers_outlive_a_sigkilled_daemon(
    busybox_image: ImportedImage, workdir: Path
) -> None:
    daemon = Mooraged(workdir, extra_args=("--containerd-backend", "local"))
    await daemon.start()
    try:
        code, _, err = await daemon.docker("load", "-i", str(busybox_image.archive))
        assert code == 0, err
        script = "echo before; read line; echo got $line; exit 6"
        code, _, err = await daemon.docker(
            "run", "-di", "--name", "keeps", "busybox", "sh", "-c", script
        )
        assert code == 0, err
        await _wait_log(daemon, "keeps", "before")
        pid = (await daemon.docker("inspect", "--format", "{{.State.Pid}}", "keeps"))[1].strip()

        daemon.kill()
        await daemon.wait()
        await daemon.start()

        fmt = "{{.State.Status}} {{.State.Pid}}"
        state = (await daemon.docker("inspect", "--format", fmt, "keeps"))[1].split()
        assert state == ["running", pid]
        # Its stdin stayed open through the monitor: an attach gives the process its line.
        waiter = asyncio.ensure_future(daemon.docker("wait", "keeps"))
        proc = await asyncio.create_subprocess_exec(
            "docker",
            "attach",
            "keeps",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=docker_env(f"unix://{daemon.socket}", config=workdir / "docker-config"),
        )
        out_b, _ = await asyncio.wait_for(proc.communicate(b"after-restart\n"), 30)
        assert b"got after-restart" in out_b
        code, out, _ = await waiter
        assert (code, out.strip()) == (0, "6")
        logs = (await daemon.docker("logs", "keeps"))[1]
        assert logs.split("\n")[:2] == ["before", "got after-restart"]
        code, _, err = await daemon.docker("rm", "keeps")
        assert code == 0, err
    finally:
        await daemon.stop()
    mounts = (await asyncio.to_thread(Path("/proc/mounts").read_text)).splitlines()
    assert [line for line in mounts if str(workdir) in line] == []


async def test_layer_whiteouts_and_rmi_frees_what_only_that_image_used(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    # On busybox and a layer that adds /tmp/old: /bin/echo deleted (a whiteout), /tmp made
    # opaque (old gone) with one new file in it.
    upper = build_layer(
        [Dir("bin"), File("bin/.wh.echo", b""), Dir("tmp", 0o1777), File("tmp/.wh..wh..opq", b""),
         File("tmp/new", b"fresh\n")]
    )  # fmt: skip
    image = build_image([build_busybox_layer(), file_layer({"tmp/old": b"old\n"}), upper])
    write_docker_save(tmp_path / "wh.tar", ["whiteouts:latest"], image)
    await daemon.docker_ok("load", "-i", str(tmp_path / "wh.tar"))
    out = await daemon.docker_ok("run", "--rm", "whiteouts", "sh", "-c", "ls /tmp; cat /tmp/new")
    assert out == "new\nfresh\n"
    code, _, _ = await daemon.docker("run", "--rm", "whiteouts", "ls", "/bin/echo")
    assert code != 0
    assert await daemon.docker_ok("run", "--rm", "busybox", "echo", "still") == "still\n"

    store = daemon.services.config.data_root / "local"
    upper_blob = store / "content" / "blobs" / "sha256" / image.diff_ids[2].removeprefix("sha256:")
    config_blob = store / "content" / "blobs" / "sha256" / image.config_digest.split(":")[1]
    busybox_blob = store / "content" / "blobs" / "sha256" / image.diff_ids[0].split(":")[1]
    snapshots = store / "snapshots" / "overlayfs"
    before = {p.name for p in snapshots.iterdir()}
    assert upper_blob.exists() and config_blob.exists()

    await daemon.docker_ok("rmi", "whiteouts")
    assert not upper_blob.exists() and not config_blob.exists()
    assert busybox_blob.exists()  # busybox:latest uses it still
    # The two layers' snapshots went with it; busybox's stayed and still runs.
    assert len(before - {p.name for p in snapshots.iterdir()}) == 2
    assert await daemon.docker_ok("run", "--rm", "busybox", "echo", "still") == "still\n"


async def test_a_task_whose_records_are_gone_is_killed_at_restart(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    async with running_daemon(containerd, busybox_image) as first:
        cid = (
            await first.docker_ok("run", "-d", "--name", "orphaned", "busybox", "sleep", "300")
        ).strip()
        pid = int(await first.docker_ok("inspect", "--format", "{{.State.Pid}}", cid))
        data_root = first.services.config.data_root
    # Both records gone under the running task: the daemon's and the backend's.
    shutil.rmtree(data_root / "containers" / cid)
    (data_root / "local" / "containers" / f"{cid}.json").unlink()
    bundle = data_root.parent / "exec" / "local" / "bundles" / cid
    assert bundle.is_dir()
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        assert not bundle.exists()
        assert _gone(pid)
        assert "orphaned" not in await second.docker_ok("ps", "-a", "--format", "{{.Names}}")


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True
