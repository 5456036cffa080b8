"""The SDK's exec_run of a command that cannot start, as against dockerd 20.10.

Exit code 126 and the runtime's reason as the output when attached; a detached start is
refused with the reason (400). Texts as dockerd 20.10.24 with runc 1.1.5 gave them.
"""

from __future__ import annotations

import asyncio

import docker
import docker.errors
import pytest

from tests.integration.cli.test_exec_errors import CASES, IDS, PREFIX
from tests.integration.sdk.test_sdk import off_loop, removed_at_end, sdk

__all__ = ["sdk"]


@pytest.mark.parametrize(("command", "reason"), CASES, ids=IDS)
async def test_exec_run_that_cannot_start(
    sdk: docker.DockerClient, command: list[str], reason: str
) -> None:
    container = await off_loop(sdk.containers.run, "busybox", ["sleep", "300"], detach=True)
    async with removed_at_end(container):
        made = await off_loop(container.exec_run, ["sh", "-c", "mkdir /adir && echo hi > /afile"])
        assert made.exit_code == 0

        result = await off_loop(container.exec_run, command)
        assert (result.exit_code, result.output) == (126, f"{PREFIX}{reason}\r\n".encode())
        # On a terminal the same words come raw, with the same code.
        result = await off_loop(container.exec_run, command, tty=True)
        assert (result.exit_code, result.output) == (126, f"{PREFIX}{reason}\r\n".encode())

        with pytest.raises(docker.errors.APIError) as refused:
            await off_loop(container.exec_run, command, detach=True)
        assert (refused.value.status_code, refused.value.explanation) == (400, PREFIX + reason)

        # The low-level calls: the failed exec's inspect says 126 and not running.
        exec_id = (await off_loop(sdk.api.exec_create, container.id, command))["Id"]
        output = await off_loop(sdk.api.exec_start, exec_id)
        assert output == f"{PREFIX}{reason}\r\n".encode()
        inspected = await off_loop(sdk.api.exec_inspect, exec_id)
        assert (inspected["ExitCode"], inspected["Running"], inspected["Pid"]) == (126, False, 0)
        await off_loop(container.reload)
        assert container.attrs["ExecIDs"] is None and container.status == "running"


async def test_a_probe_that_cannot_start_is_minus_one_with_the_reason(
    sdk: docker.DockerClient,
) -> None:
    # dockerd 20.10 logs such a probe as ExitCode -1 with the error (no "\r\n") as Output.
    healthcheck = {"test": ["CMD", "nosuch"], "interval": 200_000_000, "retries": 1}
    container = await off_loop(
        sdk.containers.run, "busybox", ["sleep", "300"], detach=True, healthcheck=healthcheck
    )
    async with removed_at_end(container):
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            await off_loop(container.reload)
            health = container.attrs["State"]["Health"]
            if health["Log"]:
                break
            assert asyncio.get_running_loop().time() < deadline, health
            await asyncio.sleep(0.1)
        reason = 'exec: "nosuch": executable file not found in $PATH: unknown'
        entry = health["Log"][0]
        assert (entry["ExitCode"], entry["Output"]) == (-1, PREFIX + reason)
