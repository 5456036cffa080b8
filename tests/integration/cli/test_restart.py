"""Restart policies: on-failure with a limit, always until stopped, and at daemon start."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from collections.abc import Awaitable
from pathlib import Path

import pytest

from daemon.container import restore as restore_module
from daemon.daemon import Daemon
from libcontainerd.remote.client import RemoteClient
from libcontainerd.types import INIT_PROCESS_ID, EventInfo, EventType
from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.daemon import RunningDaemon, running_daemon


async def _inspect(daemon: RunningDaemon, name: str, fmt: str) -> str:
    code, out, err = await daemon.docker("inspect", "--format", fmt, name)
    assert code == 0, err
    return out.strip()


async def _until(
    daemon: RunningDaemon, name: str, fmt: str, want: str, timeout: float = 30
) -> None:
    async with asyncio.timeout(timeout):
        while await _inspect(daemon, name, fmt) != want:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def _always_container_left_behind(
    containerd: TestContainerd, image: ImportedImage, name: str, *extra: str
) -> tuple[int, str, Path]:
    """A `--restart always` container run by a daemon that then stops (its containers run
    on in their shims): the container's pid and id, and the daemon's data root."""
    async with running_daemon(containerd, image) as first:
        code, _, err = await first.docker(
            "run", "-d", "--name", name, "--restart", "always", *extra, "busybox", "sleep", "300"
        )
        assert code == 0, err
        pid = int(await _inspect(first, name, "{{.State.Pid}}"))
        cid = await _inspect(first, name, "{{.Id}}")
        return pid, cid, first.services.config.data_root


async def test_on_failure_stops_after_its_retries(daemon: RunningDaemon) -> None:
    code, _, err = await daemon.docker(
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    )
    assert code == 0, err
    await _until(daemon, "flaky", "{{.State.Status}} {{.RestartCount}}", "exited 2")
    assert await _inspect(daemon, "flaky", "{{.State.ExitCode}}") == "3"
    # Every run logs to the same json-file log.
    assert await daemon.docker_ok("logs", "flaky") == "run\nrun\nrun\n"
    assert daemon.services.daemon.get("flaky").restart_timer is None
    await daemon.docker("rm", "flaky")


async def test_restart_count_counts_the_pending_restart(daemon: RunningDaemon) -> None:
    """dockerd 20.10.24 (observed) counts a policy restart at the exit that decides it:
    while the container waits to restart, RestartCount already includes that restart
    (restarting 1, running 1, restarting 2, ...), never `restarting 0`."""
    code, _, err = await daemon.docker(
        "run", "-d", "--name", "counted", "--restart", "always", "busybox", "sh", "-c",
        "sleep 0.3; false",
    )  # fmt: skip
    assert code == 0, err
    seen: list[tuple[str, int]] = []
    async with asyncio.timeout(30):
        while len({count for status, count in seen if status == "running"}) < 3:
            reply = await daemon.call("GET", "/containers/counted/json")
            found = reply.json()
            entry = (found["State"]["Status"], found["RestartCount"])
            if not seen or seen[-1] != entry:
                seen.append(entry)
            await asyncio.sleep(0.005)  # poll period; the first wait to restart is 100 ms
    restarting = [count for status, count in seen if status == "restarting"]
    assert restarting and 0 not in restarting, seen
    for (status, count), (after, then) in itertools.pairwise(seen):
        if status == "restarting" and after == "running":
            assert then == count, seen  # the restart itself adds nothing
    await daemon.docker_ok("rm", "-f", "counted")


async def test_always_restarts_until_stopped(daemon: RunningDaemon) -> None:
    code, _, err = await daemon.docker(
        "run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "true"
    )
    assert code == 0, err
    async with asyncio.timeout(30):
        while int(await _inspect(daemon, "phoenix", "{{.RestartCount}}")) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    code, _, err = await daemon.docker("stop", "phoenix")
    assert code == 0, err
    assert await _inspect(daemon, "phoenix", "{{.State.Status}}") == "exited"
    assert daemon.services.daemon.get("phoenix").restart_timer is None
    # A start by the user starts the count over.
    code, _, _ = await daemon.docker("start", "phoenix")
    assert code == 0
    code, _, err = await daemon.docker("rm", "-f", "phoenix")
    assert code == 0, err
    code, _, _ = await daemon.docker("inspect", "phoenix")
    assert code == 1


async def test_always_container_comes_back_at_daemon_start(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    pid, _, data_root = await _always_container_left_behind(containerd, busybox_image, "comeback")
    # The daemon is gone but the container runs on in its shim; it dies meanwhile.
    os.kill(pid, signal.SIGKILL)
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        # Restarted before the API answers, as dockerd's restore does: not polled for.
        shown = await _inspect(second, "comeback", "{{.State.Status}} {{.RestartCount}}")
        assert shown == "running 1"
        code, _, err = await second.docker("rm", "-f", "comeback")
        assert code == 0, err


async def test_an_exit_heard_before_restore_restarts_the_container_once(
    containerd: TestContainerd, busybox_image: ImportedImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The event stream is up before restore: an exit published late (as under load) can
    # reach the daemon first. Made certain here: the kill and its event come before restore.
    pid, cid, data_root = await _always_container_left_behind(containerd, busybox_image, "early")
    original = restore_module.restore

    async def exit_heard_then_restore(
        daemon: Daemon, before_steps: Awaitable[object] | None = None
    ) -> None:
        heard = asyncio.Event()
        process_event = daemon.process_event

        async def noting(container_id: str, event_type: EventType, info: EventInfo) -> None:
            await process_event(container_id, event_type, info)
            if (container_id, event_type, info.process_id) == (
                cid, EventType.EXIT, INIT_PROCESS_ID):  # fmt: skip
                heard.set()

        monkeypatch.setattr(daemon, "process_event", noting)
        client = daemon._client()
        assert isinstance(client, RemoteClient)
        await client.wait_events_live()
        os.kill(pid, signal.SIGKILL)
        await asyncio.wait_for(heard.wait(), 30)
        # A restart the exit scheduled, if any, goes first too (as when restore is slow).
        timer = daemon.get(cid).restart_timer
        if timer is not None:
            await asyncio.wait_for(asyncio.shield(timer), 30)
        await original(daemon, before_steps)

    monkeypatch.setattr(restore_module, "restore", exit_heard_then_restore)
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        # Restarted once, by the restore; not first by the early exit with nothing to start.
        await _until(second, "early", "{{.State.Status}} {{.RestartCount}}", "running 1")
        code, _, err = await second.docker("rm", "-f", "early")
        assert code == 0, err


async def test_an_exit_queued_during_restore_is_applied_once(
    containerd: TestContainerd, busybox_image: ImportedImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An exit the stream delivered while restore reads containerd's state waits in the
    # dispatcher's queue; the listing shows the same exit and restore applies it (restart
    # included). Made certain here: the queued copy is let through only after that restart.
    pid, cid, data_root = await _always_container_left_behind(
        containerd, busybox_image, "twice", "--health-cmd", "true", "--health-interval", "300ms"
    )
    original = restore_module.restore

    async def exit_queued_during_restore(
        daemon: Daemon, before_steps: Awaitable[object] | None = None
    ) -> None:
        heard, let_through, handled = asyncio.Event(), asyncio.Event(), asyncio.Event()
        process_event = daemon.process_event
        the_exit = (cid, EventType.EXIT, INIT_PROCESS_ID)

        async def gated(container_id: str, event_type: EventType, info: EventInfo) -> None:
            if (container_id, event_type, info.process_id) != the_exit:
                await process_event(container_id, event_type, info)
                return
            heard.set()
            await let_through.wait()
            await process_event(container_id, event_type, info)
            handled.set()

        monkeypatch.setattr(daemon, "process_event", gated)
        client = daemon._client()
        assert isinstance(client, RemoteClient)
        await client.wait_events_live()
        os.kill(pid, signal.SIGKILL)
        await asyncio.wait_for(heard.wait(), 30)
        await original(daemon, before_steps)
        # restore applied the exit from the listing, and has made the restart it decided.
        model = daemon.get(cid).model
        assert (model.state.running, model.restart_count) == (True, 1)
        let_through.set()
        await asyncio.wait_for(handled.wait(), 30)

    monkeypatch.setattr(restore_module, "restore", exit_queued_during_restore)
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        # The new run goes on as a single exit leaves it: restarted once, and its health
        # checks (which a second application of the exit would stop) keep running.
        await _until(
            second, "twice", "{{.State.Status}} {{.RestartCount}} {{.State.Health.Status}}",
            "running 1 healthy", timeout=15,
        )  # fmt: skip
        assert int(await _inspect(second, "twice", "{{.State.Pid}}")) != pid
        code, _, err = await second.docker("rm", "-f", "twice")
        assert code == 0, err
