"""Healthchecks through the real docker CLI: probes, State.Health, `docker ps` and events."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tests.support.daemon import RunningDaemon


async def _health(daemon: RunningDaemon, name: str) -> Any:
    out = await daemon.docker_ok("inspect", "--format", "{{json .State.Health}}", name)
    return json.loads(out)


async def _until_status(daemon: RunningDaemon, name: str, want: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            health = await _health(daemon, name)
            if health and health["Status"] == want:
                return dict(health)
            await asyncio.sleep(0.05)


async def _exec(daemon: RunningDaemon, exec_id: str) -> Any:
    reply = await daemon.call("GET", f"/exec/{exec_id}/json")
    assert reply.status == 200, reply.body
    return reply.json()


async def test_unhealthy_then_healthy(daemon: RunningDaemon) -> None:
    since = time.time()
    await daemon.docker_ok(
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -e /tmp/ok && echo fine",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "300",
    )
    first = await _health(daemon, "hc")
    assert first["Status"] in ("starting", "unhealthy")

    health = await _until_status(daemon, "hc", "unhealthy")
    assert health["FailingStreak"] >= 2
    assert 2 <= len(health["Log"]) <= 5
    assert all(entry["ExitCode"] == 1 for entry in health["Log"])
    assert all(entry["Start"] <= entry["End"] for entry in health["Log"])
    ps = await daemon.docker_ok("ps", "--filter", "name=hc", "--format", "{{.Status}}")
    assert ps.strip().endswith("(unhealthy)")

    await daemon.docker_ok("exec", "hc", "touch", "/tmp/ok")
    health = await _until_status(daemon, "hc", "healthy")
    assert health["FailingStreak"] == 0
    assert health["Log"][-1]["ExitCode"] == 0
    assert health["Log"][-1]["Output"] == "fine\n"
    ps = await daemon.docker_ok("ps", "--filter", "name=hc", "--format", "{{.Status}}")
    assert ps.strip().endswith("(healthy)")
    # A user's exec that is not over is listed (one that is over, like the touch above, is
    # not, as in dockerd); so is a probe while it runs (test_a_running_probe_is_listed).
    await daemon.docker_ok("exec", "-d", "hc", "sleep", "300")
    exec_ids = json.loads(await daemon.docker_ok("inspect", "--format", "{{json .ExecIDs}}", "hc"))
    commands = [(await _exec(daemon, i))["ProcessConfig"]["entrypoint"] for i in exec_ids]
    assert commands.count("sleep") == 1 and set(commands) <= {"sleep", "/bin/sh"}

    code, out, err = await daemon.docker(
        "events",
        "--since",
        f"{since:.9f}",
        "--until",
        f"{time.time():.9f}",
        "--filter",
        "container=hc",
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}}",
        timeout=10,
    )
    assert code == 0, err
    assert out.split("\n")[:2] == ["health_status: unhealthy", "health_status: healthy"]

    # Stopping keeps the last health; the next start begins "starting" again.
    await daemon.docker_ok("stop", "-t", "0", "hc")
    stopped = await _health(daemon, "hc")
    assert stopped["Status"] == "healthy"
    ps = await daemon.docker_ok("ps", "-a", "--filter", "name=hc", "--format", "{{.Status}}")
    assert "(" not in ps.replace("Exited (", "")
    await daemon.docker_ok("start", "hc")
    restarted = await _health(daemon, "hc")
    assert restarted["Status"] in ("starting", "healthy")
    await daemon.docker_ok("rm", "-f", "hc")


async def test_timeout_counts_as_failure(daemon: RunningDaemon) -> None:
    await daemon.docker_ok(
        "run",
        "-d",
        "--name",
        "hc-slow",
        "--health-cmd",
        "sleep 10",
        "--health-interval",
        "100ms",
        "--health-timeout",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    )
    health = await _until_status(daemon, "hc-slow", "unhealthy")
    entry = health["Log"][-1]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "Health check exceeded timeout (200ms)"
    ps = await daemon.docker_ok("ps", "--filter", "name=hc-slow", "--format", "{{.Status}}")
    assert ps.strip().endswith("(unhealthy)")
    await daemon.docker_ok("rm", "-f", "hc-slow")


async def test_starting_during_start_period(daemon: RunningDaemon) -> None:
    await daemon.docker_ok(
        "run",
        "-d",
        "--name",
        "hc-start",
        "--health-cmd",
        "false",
        "--health-interval",
        "100ms",
        "--health-retries",
        "1",
        "--health-start-period",
        "1h",
        "busybox",
        "sleep",
        "300",
    )
    async with asyncio.timeout(30):
        while len((await _health(daemon, "hc-start"))["Log"]) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    health = await _health(daemon, "hc-start")
    assert health["Status"] == "starting"
    assert health["FailingStreak"] == 0
    ps = await daemon.docker_ok("ps", "--filter", "name=hc-start", "--format", "{{.Status}}")
    assert ps.strip().endswith("(health: starting)")
    await daemon.docker_ok("rm", "-f", "hc-start")


async def test_no_healthcheck_has_no_health(daemon: RunningDaemon) -> None:
    for name, extra in (("hc-none", ["--no-healthcheck"]), ("hc-plain", [])):
        await daemon.docker_ok("run", "-d", "--name", name, *extra, "busybox", "sleep", "300")
        status = await daemon.docker_ok("inspect", "--format", "{{json .State}}", name)
        assert "Health" not in json.loads(status)
        ps = await daemon.docker_ok("ps", "--filter", f"name={name}", "--format", "{{.Status}}")
        assert "(" not in ps
        await daemon.docker_ok("rm", "-f", name)


async def test_a_running_probe_is_listed_in_exec_ids(daemon: RunningDaemon) -> None:
    # dockerd 20.10.24 lists a probe's exec in ExecIDs while it runs, and inspects it.
    args = ["--health-cmd", "sleep 60", "--health-interval", "100ms", "--health-timeout", "120s"]
    out = await daemon.docker_ok(
        "run", "-d", "--name", "hc-listed", *args, "busybox", "sleep", "300"
    )
    cid = out.strip()
    try:
        async with asyncio.timeout(30):
            while True:
                ids = await daemon.docker_ok("inspect", "--format", "{{json .ExecIDs}}", cid)
                if json.loads(ids):
                    break
                await asyncio.sleep(0.05)
        (probe,) = json.loads(ids)
        inspected = await _exec(daemon, probe)
        assert inspected["ContainerID"] == cid and inspected["Running"] is True
        assert inspected["ProcessConfig"]["arguments"] == ["-c", "sleep 60"]
    finally:
        await daemon.docker_ok("rm", "-f", cid)
