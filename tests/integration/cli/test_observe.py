"""The real docker CLI against mooraged: events, stats, top, update and prune."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from daemon.timefmt import ZERO_TIME
from tests.support.containerd import count_delta
from tests.support.daemon import RunningDaemon
from tests.support.dockerd import STATS_KEYS


def _session(daemon: RunningDaemon) -> aiohttp.ClientSession:
    connector = aiohttp.UnixConnector(path=str(daemon.socket))
    return aiohttp.ClientSession(connector=connector, base_url="http://docker")


def _rpcs(daemon: RunningDaemon) -> dict[str, int]:
    client = daemon.services.client
    assert client is not None
    return dict(client.rpc_counts())


async def _run_detached(daemon: RunningDaemon, name: str, *args: str) -> str:
    code, out, err = await daemon.docker("run", "-d", "--name", name, *args)
    assert code == 0, err
    return out.strip()


async def _get_json(daemon: RunningDaemon, path: str) -> tuple[int, Any]:
    async with _session(daemon) as session, session.get(path) as response:
        return response.status, await response.json(content_type=None)


# -- events ------------------------------------------------------------------------------


async def test_events_of_run_rm_in_order(daemon: RunningDaemon) -> None:
    since = time.time()
    code, out, err = await daemon.docker("run", "--rm", "--name", "ev-rm", "busybox", "true")
    assert code == 0, err
    until = time.time()
    code, out, err = await daemon.docker(
        "events",
        "--since",
        f"{since:.9f}",
        "--until",
        f"{until:.9f}",
        "--filter",
        "container=ev-rm",  # the name still matches after the container is gone
        "--format",
        "{{json .}}",
        timeout=10,
    )
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["Action"] for e in events] == ["create", "attach", "start", "die", "destroy"]
    cid = events[0]["Actor"]["ID"]
    assert len(cid) == 64
    for event in events:
        assert event["Type"] == "container" and event["scope"] == "local"
        assert (event["status"], event["id"], event["from"]) == (event["Action"], cid, "busybox")
        assert event["Actor"]["ID"] == cid
        assert event["Actor"]["Attributes"]["image"] == "busybox"
        assert event["Actor"]["Attributes"]["name"] == "ev-rm"
        assert since <= event["time"] + 1 and event["time"] == event["timeNano"] // 10**9
    assert events[3]["Actor"]["Attributes"]["exitCode"] == "0"
    nanos = [e["timeNano"] for e in events]
    assert nanos == sorted(nanos)


async def test_events_follow_flushes_headers_and_ends_with_client(
    daemon: RunningDaemon,
) -> None:
    bus = daemon.services.events
    query = {"filters": json.dumps({"type": {"container": True}, "event": {"create": True}})}
    async with _session(daemon) as session:
        async with asyncio.timeout(5):
            # Nothing has happened yet: only the headers can make this return.
            response = await session.get("/v1.41/events", params=query)
        async with response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"
            assert bus.subscriber_count() == 1
            code, out, err = await daemon.docker("create", "--name", "ev-follow", "busybox")
            assert code == 0, err
            async with asyncio.timeout(5):
                line = await response.content.readline()
            event = json.loads(line)
            assert (event["Action"], event["Actor"]["ID"]) == ("create", out.strip())
    # The client hung up: the daemon notices and drops the subscription.
    for _ in range(100):
        if not bus.subscriber_count():
            break
        await asyncio.sleep(0.05)
    assert bus.subscriber_count() == 0
    await daemon.docker("rm", "ev-follow")


async def test_events_bad_window_is_400(daemon: RunningDaemon) -> None:
    status, body = await _get_json(daemon, "/v1.41/events?since=20&until=10")
    assert status == 400
    assert body["message"] == "`since` time (20) cannot be after `until` time (10)"


# -- stats -------------------------------------------------------------------------------


async def test_stats_no_stream(daemon: RunningDaemon) -> None:
    cid = await _run_detached(daemon, "st", "busybox", "sleep", "300")
    code, out, err = await daemon.docker("stats", "--no-stream", "st")
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == [
        "CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
        "NET", "I/O", "BLOCK", "I/O", "PIDS",
    ]  # fmt: skip
    fields = row.split()
    assert fields[:2] == [cid[:12], "st"] and fields[-1] == "1"
    assert fields[2].endswith("%") and "/" in fields
    # All containers: the CLI also follows /events while it asks for each one's stats.
    code, out, err = await daemon.docker("stats", "--no-stream", "--format", "{{.Name}}")
    assert (code, out) == (0, "st\n"), err

    before = _rpcs(daemon)
    started = time.monotonic()
    status, sample = await _get_json(daemon, "/v1.41/containers/st/stats?stream=0")
    elapsed = time.monotonic() - started
    assert status == 200
    # Two samples about a second apart, so that CPU % has something to compare with.
    assert count_delta(before, _rpcs(daemon)) == {"Tasks.Metrics": 2}
    assert 0.9 < elapsed < 5
    assert set(sample) == set(STATS_KEYS)
    assert (sample["name"], sample["id"]) == ("/st", cid)
    assert sample["preread"] != ZERO_TIME and sample["preread"] < sample["read"]
    assert sample["pids_stats"]["current"] == 1
    assert sample["memory_stats"]["usage"] > 0 and sample["memory_stats"]["limit"] > 0
    assert sample["precpu_stats"]["system_cpu_usage"] < sample["cpu_stats"]["system_cpu_usage"]
    assert sample["cpu_stats"]["online_cpus"] >= 1

    before = _rpcs(daemon)
    status, sample = await _get_json(daemon, "/v1.41/containers/st/stats?stream=0&one-shot=1")
    assert status == 200
    assert count_delta(before, _rpcs(daemon)) == {"Tasks.Metrics": 1}
    assert sample["preread"] == ZERO_TIME and sample["read"] != ZERO_TIME
    assert "system_cpu_usage" not in sample["precpu_stats"]


async def test_stats_stream_carries_previous_sample(daemon: RunningDaemon) -> None:
    async with _session(daemon) as session, session.get("/v1.41/containers/st/stats") as resp:
        assert resp.status == 200
        async with asyncio.timeout(5):
            first = json.loads(await resp.content.readline())
            second = json.loads(await resp.content.readline())
    assert first["preread"] == ZERO_TIME
    assert second["preread"] == first["read"]
    assert second["precpu_stats"] == first["cpu_stats"]


async def test_stats_of_stopped_container_are_zero(daemon: RunningDaemon) -> None:
    code, out, err = await daemon.docker("create", "--name", "st-idle", "busybox")
    assert code == 0, err
    before = _rpcs(daemon)
    started = time.monotonic()
    status, sample = await _get_json(daemon, "/v1.41/containers/st-idle/stats?stream=0")
    assert time.monotonic() - started < 0.5  # no second sample to wait for
    assert status == 200 and count_delta(before, _rpcs(daemon)) == {}
    assert set(sample) == set(STATS_KEYS)
    assert sample["read"] == sample["preread"] == ZERO_TIME
    assert (sample["name"], sample["id"]) == ("/st-idle", out.strip())
    assert sample["pids_stats"] == sample["memory_stats"] == {}
    assert set(sample["blkio_stats"].values()) == {None}
    assert sample["cpu_stats"]["cpu_usage"]["total_usage"] == 0
    status, body = await _get_json(daemon, "/v1.41/containers/nosuch/stats?stream=0")
    assert (status, body["message"]) == (404, "No such container: nosuch")
    await daemon.docker("rm", "st-idle")


# -- top ---------------------------------------------------------------------------------


async def test_top(daemon: RunningDaemon) -> None:
    before = _rpcs(daemon)
    code, out, err = await daemon.docker("top", "st")
    assert code == 0, err
    assert count_delta(before, _rpcs(daemon)) == {"Tasks.ListPids": 1}
    header, *rows = out.splitlines()
    assert header.split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert len(rows) == 1 and rows[0].split()[-2:] == ["sleep", "300"]

    code, out, err = await daemon.docker("top", "st", "-o", "pid,args")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["PID", "COMMAND"]
    assert len(rows) == 1 and rows[0].split()[1:] == ["sleep", "300"]


async def test_top_of_stopped_container_is_409(daemon: RunningDaemon) -> None:
    code, out, err = await daemon.docker("create", "--name", "top-idle", "busybox")
    assert code == 0, err
    cid = out.strip()
    code, _, err = await daemon.docker("top", "top-idle")
    assert code == 1
    assert f"Container {cid} is not running" in err
    await daemon.docker("rm", "top-idle")


# -- update ------------------------------------------------------------------------------


def _cgroup_dir(daemon: RunningDaemon, ref: str, v1_controller: str) -> Path:
    live = daemon.services.daemon.get(ref)
    assert live.lcd is not None
    relative = str(live.lcd.record.spec["linux"]["cgroupsPath"]).lstrip("/")
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # cgroup v2: one hierarchy
        return root / relative
    return root / v1_controller / relative


def _memory_limit(daemon: RunningDaemon, ref: str) -> int:
    """The container's memory limit as the kernel has it (v1 or v2 file)."""
    folder = _cgroup_dir(daemon, ref, "memory")
    v2 = folder / "memory.max"
    return _limit((v2 if v2.exists() else folder / "memory.limit_in_bytes").read_text())


def _limit(text: str) -> int:
    """A cgroup limit; v2 writes "max" for none, v1 a huge number."""
    return 2**63 - 1 if text.strip() == "max" else int(text)


def _memory_and_swap_limit(daemon: RunningDaemon, ref: str) -> int | None:
    """Memory plus swap (docker's MemorySwap); None where the kernel does not account swap."""
    folder = _cgroup_dir(daemon, ref, "memory")
    if (folder / "memory.swap.max").exists():
        return _limit((folder / "memory.swap.max").read_text()) + _memory_limit(daemon, ref)
    v1 = folder / "memory.memsw.limit_in_bytes"
    return int(v1.read_text()) if v1.exists() else None


async def test_update_memory_of_running_container(daemon: RunningDaemon) -> None:
    assert _memory_limit(daemon, "st") > 64 * 2**20
    before = _rpcs(daemon)
    code, out, err = await daemon.docker("update", "--memory", "64m", "--memory-swap", "128m", "st")
    assert (code, out.strip()) == (0, "st"), err
    assert count_delta(before, _rpcs(daemon)) == {"Tasks.Update": 1}
    code, out, err = await daemon.docker(
        "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "st"
    )
    assert out.split() == [str(64 * 2**20), str(128 * 2**20)], err
    assert _memory_limit(daemon, "st") == 64 * 2**20
    assert _memory_and_swap_limit(daemon, "st") in (None, 128 * 2**20)


async def test_update_raw_reply_and_stopped_container(daemon: RunningDaemon) -> None:
    code, out, err = await daemon.docker("create", "--name", "up-idle", "busybox", "sleep", "300")
    assert code == 0, err
    body = {"Memory": 32 * 2**20, "MemorySwap": -1, "RestartPolicy": {"Name": "on-failure"}}
    before = _rpcs(daemon)
    async with (
        _session(daemon) as session,
        session.post("/v1.41/containers/up-idle/update", json=body) as response,
    ):
        assert response.status == 200
        assert await response.read() == b'{"Warnings":null}\n'
    assert count_delta(before, _rpcs(daemon)) == {}  # applied at the next start
    code, out, err = await daemon.docker(
        "inspect",
        "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}",
        "up-idle",
    )
    assert out.split() == [str(32 * 2**20), "on-failure"], err
    code, _, err = await daemon.docker("start", "up-idle")
    assert code == 0, err
    assert _memory_limit(daemon, "up-idle") == 32 * 2**20
    # Below dockerd's minimum: 400, nothing changes.
    code, _, err = await daemon.docker("update", "--memory", "1m", "up-idle")
    assert code == 1 and "Minimum memory limit allowed is 6MB" in err
    await daemon.docker("rm", "-f", "up-idle")


# -- prune -------------------------------------------------------------------------------


async def test_container_prune(daemon: RunningDaemon) -> None:
    await daemon.docker("rm", "-f", "st")
    running = await _run_detached(daemon, "pr-running", "busybox", "sleep", "300")
    ids = {}
    for name, labels in (("pr-a", ["--label", "keep=yes"]), ("pr-b", [])):
        code, out, err = await daemon.docker("create", "--name", name, *labels, "busybox")
        assert code == 0, err
        ids[name] = out.strip()
    # One that ran and left 100 kB in its writable layer: what its removal reclaims.
    code, _, err = await daemon.docker(
        "run", "--name", "pr-c", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /f"
    )
    assert code == 0, err
    ids["pr-c"] = (await daemon.docker_ok("inspect", "--format", "{{.Id}}", "pr-c")).strip()

    code, out, err = await daemon.docker(
        "container", "prune", "-f", "--filter", "label!=keep=yes", "--filter", "until=1h"
    )
    assert (code, out) == (0, "Total reclaimed space: 0B\n"), err  # all were newer than 1h

    since = time.time()
    code, out, err = await daemon.docker("container", "prune", "-f", "--filter", "label!=keep")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Deleted Containers:"
    assert set(lines[1:3]) == {ids["pr-b"], ids["pr-c"]}
    assert lines[3:] == ["", "Total reclaimed space: 100kB"]

    code, out, err = await daemon.docker("container", "prune", "-f")
    assert code == 0, err
    assert out.splitlines()[:2] == ["Deleted Containers:", ids["pr-a"]]
    code, out, _ = await daemon.docker("ps", "-aq", "--no-trunc")
    assert out.split() == [running]

    code, out, err = await daemon.docker(
        "events",
        "--since",
        f"{since:.9f}",
        "--until",
        f"{time.time():.9f}",
        "--filter",
        "event=prune",
        "--format",
        "{{json .}}",
        timeout=10,
    )
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 2, err
    assert events[0]["Type"] == "container"
    assert events[0]["Actor"] == {"ID": "", "Attributes": {"reclaimed": "100000"}}
    assert events[1]["Actor"] == {"ID": "", "Attributes": {"reclaimed": "0"}}

    async with (
        _session(daemon) as session,
        session.post(
            "/v1.41/containers/prune", params={"filters": '{"name":{"x":true}}'}
        ) as response,
    ):
        assert response.status == 400
        assert (await response.json())["message"] == "Invalid filter 'name'"
    await daemon.docker("rm", "-f", "pr-running")
