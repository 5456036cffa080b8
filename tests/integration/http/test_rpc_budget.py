"""DESIGN.md's RPC budget per Engine API call, read from the daemon's own metrics endpoint
and from containerd's grpc_server_handled_total, which must agree."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest_asyncio

from tests.support.containerd import ImportedImage, TestContainerd, count_delta, free_tcp_port
from tests.support.daemon import RunningDaemon, running_daemon

_SAMPLE = re.compile(r'^moorage_containerd_rpcs_total\{method="([^"]+)"\} ([0-9.e+]+)$')


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def daemon(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> AsyncIterator[RunningDaemon]:
    address = f"127.0.0.1:{free_tcp_port()}"
    async with running_daemon(containerd, busybox_image, metrics_addr=address) as running:
        running.metrics_url = f"http://{address}/metrics"  # type: ignore[attr-defined]
        yield running


async def _daemon_counts(url: str) -> dict[str, float]:
    # The daemon runs in this event loop: a blocking fetch would deadlock it.
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    counts = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            counts[match.group(1)] = float(match.group(2))
    return counts


async def _cost(
    daemon: RunningDaemon, containerd: TestContainerd, call: Callable[[], Awaitable[Any]]
) -> dict[str, float]:
    url = daemon.metrics_url  # type: ignore[attr-defined]
    before_daemon, before_server = await _daemon_counts(url), await containerd.grpc_counts()
    await call()
    after_daemon, after_server = await _daemon_counts(url), await containerd.grpc_counts()
    ours = count_delta(before_daemon, after_daemon)
    assert ours == count_delta(before_server, after_server)
    return ours


async def test_every_call_costs_its_budget(
    daemon: RunningDaemon, containerd: TestContainerd
) -> None:
    created: dict[str, Any] = {}

    async def create() -> None:
        status, body = await daemon.request(
            "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "300"]}
        )
        assert status == 201, body
        created["id"] = body["Id"]

    assert await _cost(daemon, containerd, create) == {
        "Snapshots.Prepare": 1,
        "Containers.Create": 1,
    }
    cid = created["id"]

    async def call(method: str, path: str, expect: int, body: Any = None, **params: str) -> Any:
        async def run() -> Any:
            status, reply = await daemon.request(method, path, body, **params)
            assert status == expect, reply
            return reply

        return await _cost(daemon, containerd, run)

    assert await call("POST", f"/containers/{cid}/start", 204) == {
        "Tasks.Create": 1,
        "Tasks.Start": 1,
    }
    for method, path in [
        ("GET", f"/containers/{cid}/json"),
        ("GET", "/containers/json"),
        ("GET", "/version"),
        ("GET", "/info"),
    ]:
        assert await call(method, path, 200) == {}, path
    assert await call("POST", f"/containers/{cid}/logs", 404) == {}  # unknown route: free too
    assert await call("GET", f"/containers/{cid}/logs", 200, stdout="1", stderr="1") == {}
    assert await call("GET", "/_ping", 200) == {}
    assert await call("GET", "/events", 200, since="0", until="1") == {}
    assert await call("GET", f"/containers/{cid}/stats", 200, stream="0", **{"one-shot": "1"}) == {
        "Tasks.Metrics": 1
    }
    assert await call("GET", f"/containers/{cid}/top", 200) == {"Tasks.ListPids": 1}

    exec_id: dict[str, str] = {}

    async def exec_create() -> None:
        status, body = await daemon.request(
            "POST", f"/containers/{cid}/exec", {"Cmd": ["true"], "AttachStdout": True}
        )
        assert status == 201, body
        exec_id["id"] = body["Id"]

    assert await _cost(daemon, containerd, exec_create) == {}

    async def exec_run() -> None:
        status, _ = await daemon.request("POST", f"/exec/{exec_id['id']}/start", {"Detach": True})
        assert status == 200
        record = daemon.services.daemon.execs.get(exec_id["id"])
        await record.exited.wait()
        # The exit is recorded once the output is drained; its Tasks.DeleteProcess may
        # still be under way, and the exit event's handling ends with it.
        assert daemon.services.client is not None
        await daemon.services.client.events_idle()

    assert await _cost(daemon, containerd, exec_run) == {
        "Tasks.Exec": 1,
        "Tasks.Start": 1,
        "Tasks.DeleteProcess": 1,
    }

    assert await call("POST", f"/containers/{cid}/pause", 204) == {"Tasks.Pause": 1}
    assert await call("POST", f"/containers/{cid}/unpause", 204) == {"Tasks.Resume": 1}

    async def kill_and_wait() -> None:
        status, _ = await daemon.request("POST", f"/containers/{cid}/kill", None, signal="KILL")
        assert status == 204
        status, body = await daemon.request("POST", f"/containers/{cid}/wait")
        assert (status, body["StatusCode"]) == (200, 137)

    # kill is one RPC; the exit it causes costs its one Tasks.Delete; wait costs nothing.
    assert await _cost(daemon, containerd, kill_and_wait) == {"Tasks.Kill": 1, "Tasks.Delete": 1}
    assert await call("DELETE", f"/containers/{cid}", 204) == {
        "Containers.Delete": 1,
        "Snapshots.Remove": 1,
    }


async def test_resize_is_one_rpc(daemon: RunningDaemon, containerd: TestContainerd) -> None:
    status, body = await daemon.request(
        "POST",
        "/containers/create",
        {"Image": "busybox", "Cmd": ["sleep", "300"], "Tty": True, "OpenStdin": True},
    )
    assert status == 201, body
    cid = body["Id"]
    status, _ = await daemon.request("POST", f"/containers/{cid}/start")
    assert status == 204

    async def resize() -> None:
        status, reply = await daemon.request(
            "POST", f"/containers/{cid}/resize", None, h="30", w="100"
        )
        assert status == 200, reply

    assert await _cost(daemon, containerd, resize) == {"Tasks.ResizePty": 1}
    status, _ = await daemon.request("DELETE", f"/containers/{cid}", None, force="1")
    assert status == 204


async def test_metrics_count_api_requests_per_route(daemon: RunningDaemon) -> None:
    status, _ = await daemon.request("GET", "/containers/json")
    assert status == 200
    status, _ = await daemon.request("GET", "/containers/nosuch/json")
    assert status == 404
    url = daemon.metrics_url  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    assert re.search(
        r'^moorage_api_requests_total\{code="200",method="GET",route="/containers/json"\} [1-9]',
        text,
        re.M,
    )
    # Routes are labelled by pattern, never by the id or name in the path.
    assert re.search(
        r'^moorage_api_requests_total\{code="404",method="GET",route="/containers/\{name\}/json"\}',
        text,
        re.M,
    )
    assert "nosuch" not in text
    assert re.search(
        r'^moorage_api_request_duration_seconds_count\{method="GET",route="/containers/json"\}',
        text,
        re.M,
    )


async def test_restart_lists_once_and_leases_once(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    """A restart reconciles with one Containers.List, one Tasks.List and one Snapshots.List,
    and makes the one lease that covers every create's
    snapshot until its container exists: no RPC per container, none per create."""
    async with running_daemon(containerd, busybox_image) as first:
        await first.docker_ok("run", "-d", "--name", "lister", "busybox", "sleep", "300")
        await first.docker_ok("create", "--name", "lister-created", "busybox", "true")
        data_root = first.services.config.data_root
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        assert second.services.client is not None
        counts = dict(second.services.client.rpc_counts())
        assert {k: v for k, v in counts.items() if k.split(".")[0] in ("Containers", "Tasks")} == {
            "Containers.List": 1,
            "Tasks.List": 1,
        }
        assert counts["Leases.Create"] == 1
        assert "Snapshots.Prepare" not in counts and "Snapshots.Remove" not in counts
        # One by the image store as it fills its cache (layer sizes), one by the reconcile.
        assert counts["Snapshots.List"] == 2
        await second.docker_ok("rm", "-f", "lister", "lister-created")
