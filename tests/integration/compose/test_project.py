"""The example compose project (examples/compose/) end to end with Debian's docker-compose
1.29.2 against a mooraged in a private network namespace, every step checked by what a
user sees: two bridge networks, service-name DNS (three scaled workers behind one name),
a published port, `depends_on` with `condition: service_healthy`, a restart policy,
env_file + environment, a named volume shared by services, and the commands up --scale,
ps, logs -f, exec, run --rm, stop, start, restart and down -v."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from tests.integration.network.test_bridge import _fetch_from_daemon_namespace as fetch_until_served
from tests.support.compose import EXAMPLE_PROJECT, Compose
from tests.support.netns import NetnsDaemon

DEADLINE = 30.0
GREETING = "hello from env_file from the database\n"
WEB = "http://127.0.0.1:18091/"

pytestmark = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is installed by setup.sh"
)


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` until it holds (compose has no event to wait on), within DEADLINE."""
    try:
        async with asyncio.timeout(DEADLINE):
            while not await check():  # noqa: ASYNC110
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"not within {DEADLINE:g}s: {what}") from None


async def _inspect(daemon: NetnsDaemon, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(await daemon.docker_ok("inspect", name))
    return found[0]


def _when(stamp: str) -> datetime:
    """An RFC 3339 time as the API gives it (nanoseconds, trailing zeros trimmed)."""
    seconds, _, fraction = stamp.removesuffix("Z").partition(".")
    return datetime.fromisoformat(f"{seconds}.{fraction[:6]:0<6}+00:00")


async def _ps(compose: Compose) -> dict[str, str]:
    """`docker-compose ps`: container name -> its row."""
    lines = (await compose.ok("ps")).stdout.splitlines()
    return {line.split()[0]: line for line in lines[2:] if line.strip()}


async def _state(daemon: NetnsDaemon, name: str) -> str:
    state = (await _inspect(daemon, name))["State"]
    return str(state["Health"]["Status"] if "Health" in state else state["Status"])


async def test_the_example_project_end_to_end(ns_daemon: NetnsDaemon) -> None:
    compose = Compose(EXAMPLE_PROJECT / "docker-compose.yml", "demo", ns_daemon.env())

    # up -d --scale: networks and the volume made, web only once db is healthy.
    up = await compose.ok("up", "-d", "--scale", "worker=3", timeout=120)
    assert 'Creating network "demo_back" with the default driver' in up.stderr
    assert 'Creating volume "demo_shared" with default driver' in up.stderr
    db, web = await _inspect(ns_daemon, "demo_db_1"), await _inspect(ns_daemon, "demo_web_1")
    assert db["State"]["Health"]["Status"] == "healthy"
    first_healthy = min(
        _when(probe["End"]) for probe in db["State"]["Health"]["Log"] if probe["ExitCode"] == 0
    )
    assert _when(web["State"]["StartedAt"]) > first_healthy
    # web fetched db's greeting (env_file + environment) by service name, and serves it on
    # the published port in the daemon's namespace.
    assert await fetch_until_served(ns_daemon, WEB) == GREETING

    rows = await _ps(compose)
    workers = ["demo_worker_1", "demo_worker_2", "demo_worker_3"]
    assert sorted(rows) == ["demo_db_1", "demo_flaky_1", "demo_web_1", *workers]
    assert "0.0.0.0:18091->80/tcp" in rows["demo_web_1"]
    assert "Up (healthy)" in rows["demo_db_1"]

    # The name `worker` resolves to the three scaled containers' addresses on demo_back.
    addresses = set()
    for name in workers:
        networks = (await _inspect(ns_daemon, name))["NetworkSettings"]["Networks"]
        addresses.add(networks["demo_back"]["IPAddress"])
    looked_up = await compose.ok("exec", "-T", "web", "sh", "-c", "nslookup worker")
    found = {line.split()[-1] for line in looked_up.stdout.splitlines() if "Address:" in line}
    assert addresses <= found and len(addresses) == 3, looked_up.stdout
    # exec reaches the right replica with --index.
    hostname = await compose.ok("exec", "-T", "--index=2", "worker", "hostname")
    assert hostname.stdout.strip() == (await _inspect(ns_daemon, "demo_worker_2"))["Id"][:12]

    # restart: on-failure brings flaky back until its third attempt (counted in the shared
    # volume) stays up.
    async def flaky_settled() -> bool:
        flaky = await _inspect(ns_daemon, "demo_flaky_1")
        return bool(flaky["State"]["Running"] and flaky["RestartCount"] == 2)

    await _until(flaky_settled, "flaky restarted twice and running")
    flaky = await _inspect(ns_daemon, "demo_flaky_1")
    assert flaky["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"

    # run --rm: a one-off flaky container sees what db and flaky wrote in the shared volume
    # and finds db by name; it is gone afterwards.
    one_off = await compose.ok(
        "run", "--rm", "-T", "flaky", "sh", "-c",
        "cat /shared/greeting; wc -l < /shared/attempts; wget -qO- http://db/greeting",
    )  # fmt: skip
    assert one_off.stdout == GREETING + "3\n" + GREETING
    assert await ns_daemon.docker_ok("ps", "-aq", "--filter", "name=demo_flaky_run") == ""

    # logs -f follows: it shows a line written after it started, and ends when the
    # service's containers stop.
    follower = await compose.spawn("logs", "-f", "--no-color", "worker")
    try:
        assert follower.stdout is not None
        seen = ""
        async with asyncio.timeout(DEADLINE):
            while "worker_3  | worker" not in seen or "worker_1  | worker" not in seen:
                seen += (await follower.stdout.readline()).decode()
            await compose.ok("exec", "-T", "worker", "sh", "-c", "echo marker > /proc/1/fd/1")
            while "worker_1  | marker" not in seen:
                seen += (await follower.stdout.readline()).decode()
            stop = await compose.ok("stop", "-t", "1", "worker")
            seen += (await follower.stdout.read()).decode()
            assert await follower.wait() == 0
        # compose's event watcher (a thread of logs -f) read every event's `id`.
        assert "Traceback" not in seen, seen
    finally:
        if follower.returncode is None:
            follower.kill()
            await follower.wait()
    assert "Stopping demo_worker_3 ... done" in stop.stderr
    for name in workers:
        assert f"{name} exited with code 137" in seen  # sleep ignores SIGTERM: killed at -t

    rows = await _ps(compose)
    assert all("Exit 137" in rows[name] for name in workers), rows
    await compose.ok("start", "worker")
    rows = await _ps(compose)
    assert all(" Up " in rows[name] for name in workers), rows

    # restart: db goes through its health check again; web, restarted once db is healthy,
    # fetches and serves the greeting again.
    await compose.ok("restart", "-t", "1", "db")
    assert await _state(ns_daemon, "demo_db_1") == "starting"

    async def db_healthy() -> bool:
        return await _state(ns_daemon, "demo_db_1") == "healthy"

    await _until(db_healthy, "db healthy after restart")
    await compose.ok("restart", "-t", "1", "web")
    assert await fetch_until_served(ns_daemon, WEB) == GREETING

    # down -v: containers, networks and the named volume all gone.
    down = await compose.ok("down", "-v", "-t", "1", timeout=120)
    assert "Removing volume demo_shared" in down.stderr
    assert await ns_daemon.docker_ok("ps", "-aq") == ""
    networks = (await ns_daemon.docker_ok("network", "ls", "--format", "{{.Name}}")).split()
    assert sorted(networks) == ["bridge", "host", "none"]
    assert await ns_daemon.docker_ok("volume", "ls", "-q") == ""
