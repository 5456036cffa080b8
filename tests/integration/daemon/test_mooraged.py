"""`mooraged` as users run it: its own process, its own supervised containerd, clean SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from pathlib import Path

from tests.support.containerd import processes_using, sweep
from tests.support.daemon import docker_env
from tests.support.images import write_docker_save
from tests.support.mooraged import MOORAGED, managed_containerd_pid


async def _docker(socket: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "docker",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=docker_env(f"unix://{socket}"),
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_mooraged_with_managed_containerd() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="mooraged-"))
    socket = workdir / "moorage.sock"
    # An empty daemon.json of its own, so that /etc/moorage/daemon.json cannot interfere.
    (workdir / "daemon.json").write_text("{}")
    proc = await asyncio.create_subprocess_exec(
        *MOORAGED,
        "-H",
        f"unix://{socket}",
        "--data-root",
        str(workdir / "data"),
        "--exec-root",
        str(workdir / "exec"),
        "--config-file",
        str(workdir / "daemon.json"),
        # It runs in the machine's own network namespace: no bridge may be made there.
        "--bridge",
        "none",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            while True:
                code, out = await _docker(socket, "version", "--format", "{{.Server.APIVersion}}")
                if code == 0:
                    break
                assert proc.returncode is None, "mooraged exited early"
                await asyncio.sleep(0.1)
        assert out.strip() == "1.56"
        code, out = await _docker(socket, "info", "--format", "{{.DefaultRuntime}} {{.Driver}}")
        assert (code, out.strip()) == (0, "runc overlayfs")
        # Its containerd is its own: root and socket under the daemon's directories.
        assert (workdir / "exec" / "containerd" / "containerd.sock").is_socket()
        assert processes_using(str(workdir))

        archive = workdir / "busybox.tar"
        write_docker_save(archive, ["busybox:latest"])
        code, out = await _docker(socket, "load", "-i", str(archive))
        assert code == 0, out
        code, out = await _docker(
            socket, "run", "-d", "--name", "lasting", "busybox", "sleep", "300"
        )
        assert code == 0, out
        # containerd dies under the daemon: mooraged starts it again, the container lives on.
        first = managed_containerd_pid(workdir)
        os.kill(first, signal.SIGKILL)
        async with asyncio.timeout(60):
            while True:
                code, out = await _docker(socket, "exec", "lasting", "echo", "still here")
                if code == 0:
                    break
                await asyncio.sleep(0.1)
        assert out == "still here\n"
        assert managed_containerd_pid(workdir) != first
        code, out = await _docker(socket, "run", "--rm", "busybox", "echo", "after")
        assert code == 0 and out.endswith("after\n")  # stderr (the network warning) merged
        code, out = await _docker(socket, "rm", "-f", "lasting")
        assert code == 0, out
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
        assert not socket.exists()
        assert processes_using(str(workdir)) == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        sweep(str(workdir))
