"""Signals by name as the docker CLI sends them: what create accepts, stop and kill can send."""

from __future__ import annotations

import asyncio
import json

from tests.support.daemon import RunningDaemon

# Exits with the number of the real-time signal it gets; PID 1 ignores unhandled signals.
TRAP_RTMIN3 = "trap 'exit 37' 37; echo ready; while true; do sleep 0.1; done"


async def _wait_log(daemon: RunningDaemon, name: str, text: str, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while text not in await daemon.docker_ok("logs", name):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_stop_signal_rtmin_plus_3_is_sent_by_stop(daemon: RunningDaemon) -> None:
    await daemon.docker_ok(
        "run", "-d", "--name", "rt3", "--stop-signal", "RTMIN+3", "busybox", "sh", "-c",
        TRAP_RTMIN3,
    )  # fmt: skip
    await _wait_log(daemon, "rt3", "ready")
    # A generous timeout: the container must stop by the signal, not by the SIGKILL after it.
    await daemon.docker_ok("stop", "-t", "30", "rt3")
    state = json.loads(await daemon.docker_ok("container", "inspect", "rt3"))[0]["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 37)
    await daemon.docker_ok("rm", "rt3")


async def test_kill_by_real_time_signal_name(daemon: RunningDaemon) -> None:
    await daemon.docker_ok("run", "-d", "--name", "rt3k", "busybox", "sh", "-c", TRAP_RTMIN3)
    await _wait_log(daemon, "rt3k", "ready")
    await daemon.docker_ok("kill", "-s", "SIGRTMIN+3", "rt3k")
    code = await daemon.docker_ok("wait", "rt3k")
    assert code.strip() == "37"
    await daemon.docker_ok("rm", "rt3k")
