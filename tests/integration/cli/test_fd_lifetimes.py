"""An exec that cannot start leaves nothing half closed behind (issue 7's reproduction).

Its FIFOs used to be closed under copiers still waiting on them, and the loop kept
watching the closed fd numbers: the next exec's stdin never reached its process,
and `docker top` failed with "[Errno 17] File exists" opening a pipe for ps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import docker

from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.daemon import RunningDaemon, running_daemon
from tests.support.resources import described, logged_warnings

# Bounded: a hang fails the test instead of holding the suite.
STEP_TIMEOUT = 20.0


async def test_failed_exec_then_piped_exec_and_top(daemon: RunningDaemon) -> None:
    await daemon.docker_ok("run", "-d", "--name", "fdrepro", "busybox", "sleep", "300")
    try:
        with logged_warnings() as errors:
            code, out, err = await daemon.docker(
                "exec", "fdrepro", "no-such-binary-xyz", timeout=STEP_TIMEOUT
            )
            assert code == 126, (out, err)
            assert "no-such-binary-xyz" in out + err
            # Several times: each run reuses fd numbers the failed exec had.
            for n in range(3):
                code, out, err = await daemon.docker(
                    "exec",
                    "-i",
                    "fdrepro",
                    "cat",
                    stdin=f"piped {n}\n".encode(),
                    timeout=STEP_TIMEOUT,
                )
                assert (code, out) == (0, f"piped {n}\n"), err
                code, out, err = await daemon.docker("top", "fdrepro", timeout=STEP_TIMEOUT)
                assert code == 0, err
                assert "sleep 300" in out
        assert described(errors) == []
    finally:
        await daemon.docker("rm", "-f", "fdrepro")


async def test_failed_exec_with_stdin_and_tty_ends_its_stream(daemon: RunningDaemon) -> None:
    # The stdin FIFO and the single TTY stream go through the same failure path.
    await daemon.docker_ok("run", "-d", "--name", "fdrepro2", "busybox", "sleep", "300")
    try:
        for flags in (["-i"], ["-i", "-t"]):
            code, out, err = await daemon.docker(
                "exec",
                *flags,
                "fdrepro2",
                "no-such-binary-xyz",
                stdin=b"unread\n",
                timeout=STEP_TIMEOUT,
            )
            # -t without a terminal on the client side is refused by the CLI itself.
            if "-t" in flags and "not a TTY" in err:
                continue
            assert code == 126, (flags, out, err)
        assert await daemon.docker_ok("exec", "fdrepro2", "echo", "still") == "still\n"
    finally:
        await daemon.docker("rm", "-f", "fdrepro2")


async def test_sdk_exec_run_of_a_command_that_cannot_start(daemon: RunningDaemon) -> None:
    await daemon.docker_ok("run", "-d", "--name", "fdrepro3", "busybox", "sleep", "300")
    client = await asyncio.to_thread(docker.DockerClient, base_url=daemon.host, timeout=30)
    try:
        container = await asyncio.to_thread(client.containers.get, "fdrepro3")
        async with asyncio.timeout(STEP_TIMEOUT):
            result = await asyncio.to_thread(container.exec_run, ["no-such-binary-xyz"])
        assert result.exit_code == 126
        assert b"no-such-binary-xyz" in result.output
        async with asyncio.timeout(STEP_TIMEOUT):
            result = await asyncio.to_thread(container.exec_run, ["echo", "fine"])
        assert (result.exit_code, result.output) == (0, b"fine\n")
    finally:
        client.close()
        await daemon.docker("rm", "-f", "fdrepro3")


def _fds_under(directory: Path) -> list[str]:
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
    return [t for t in targets if t.startswith(str(directory))]


async def test_a_stopping_daemon_lets_go_of_the_stdio_of_what_runs_on(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    script = "echo up; exec sleep 300"
    async with running_daemon(containerd, busybox_image) as first:
        await first.docker_ok("run", "-d", "--name", "lingerer", "busybox", "sh", "-c", script)
        await first.docker_ok("exec", "-d", "lingerer", "sleep", "300")
        client = first.services.client
        assert client is not None
        fifo_root = client.fifo_root
        assert _fds_under(fifo_root) != []
        data_root = first.services.config.data_root
    # The daemon runs in this process: what it held would still be open here.
    assert _fds_under(fifo_root) == []
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        assert "up" in await second.docker_ok("logs", "lingerer")
        await second.docker_ok("rm", "-f", "lingerer")
