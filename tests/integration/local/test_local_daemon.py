"""What only the local backend has to show: `docker info` names it, and its containers,
their output and their exit codes outlive a daemon killed with SIGKILL (the monitors
keep them, see DESIGN.md)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.support.containerd import ImportedImage, sweep
from tests.support.daemon import RunningDaemon, docker_env
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
