"""containerd goes away and comes back under a running daemon: the daemon reconciles."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from libcontainerd.errors import UnavailableError
from tests.support.containerd import TestContainerd
from tests.support.daemon import RunningDaemon


async def test_a_reconcile_that_finds_containerd_unreachable_is_tried_again(
    daemon: RunningDaemon, containerd: TestContainerd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event stream says containerd is back; the calls the reconcile then makes can
    still fail (another connection, or containerd gone again). A container whose process
    died while containerd was away is shown exited once a later try gets through."""
    cid = (await daemon.docker_ok("run", "-d", "busybox", "sleep", "300")).strip()
    pid = int(await daemon.docker_ok("inspect", "--format", "{{.State.Pid}}", cid))
    client = daemon.services.client
    assert client is not None
    real: Callable[[], Coroutine[Any, Any, Any]] = client.restore
    tries = 0

    async def flaky_restore() -> Any:
        nonlocal tries
        tries += 1
        if tries <= 2:
            raise UnavailableError("injected: containerd not reachable yet")
        return await real()

    monkeypatch.setattr(client, "restore", flaky_restore)
    try:
        await containerd.supervisor.stop()
        os.kill(pid, signal.SIGKILL)  # dies while containerd cannot tell the daemon
        await containerd.supervisor.start()
        state = ""
        async with asyncio.timeout(30):
            while tries < 3 or state != "exited 137":
                await asyncio.sleep(0.05)
                state = (
                    await daemon.docker_ok(
                        "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", cid
                    )
                ).strip()
    finally:
        monkeypatch.undo()
        await daemon.docker("rm", "-f", cid)
