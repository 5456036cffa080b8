"""A node in no swarm, as dockerd answers for one: `docker info`, `node ls`, `swarm leave`."""

from __future__ import annotations

import docker

from tests.integration.sdk.test_sdk import off_loop, sdk
from tests.support.daemon import RunningDaemon

__all__ = ["sdk"]  # the fixture, used by name


async def test_info_says_inactive_and_swarm_calls_answer_as_dockerd(daemon: RunningDaemon) -> None:
    state = await daemon.docker_ok("info", "--format", "{{.Swarm.LocalNodeState}}")
    assert state.strip() == "inactive"
    code, _, err = await daemon.docker("node", "ls")
    assert code == 1
    assert "This node is not a swarm manager." in err
    code, _, err = await daemon.docker("swarm", "leave")
    assert code == 1 and "This node is not part of a swarm" in err
    code, _, err = await daemon.docker("service", "ls")
    assert code == 1 and "This node is not a swarm manager." in err


async def test_the_sdk_leaves_no_swarm_quietly(sdk: docker.DockerClient) -> None:
    # What docker-py's own integration tests do before each test: 503 means "not in one".
    # `sdk.swarm` asks the daemon too (GET /swarm): off the loop with the call itself.
    assert await off_loop(lambda: sdk.swarm.leave(force=True)) is True
