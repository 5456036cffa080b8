"""POST /containers/{id}/exec around a restart policy's restart, as dockerd 20.10.24
answered (observed): 409 `Container <id> is restarting, wait until the container is
running` from the container's exit to its restart. dockerd checks under the container's
lock, so a create that comes while the exit is being handled waits for that handling and
gets the same 409, never `is not running`. The daemon runs in a private network
namespace, its containers on the default bridge: an exit's handling then takes down a
veth, as it does for most containers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest_asyncio

from tests.support.daemon import api_call
from tests.support.netns import NetnsDaemon, netns_daemon

HAMMER_SECONDS = 4.0  # a few exits, each handled while creates come in
HAMMER_MAX = 5000
RESTARTING_DEADLINE = 20.0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ns_daemon() -> AsyncIterator[NetnsDaemon]:
    async with netns_daemon() as daemon:
        yield daemon


async def test_exec_create_while_the_restart_policy_restarts(ns_daemon: NetnsDaemon) -> None:
    created = await api_call(
        ns_daemon.socket,
        "POST",
        "/containers/create",
        body={"Image": "busybox", "Cmd": ["false"],
              "HostConfig": {"RestartPolicy": {"Name": "always"}}},
    )  # fmt: skip
    cid = created.json()["Id"]
    restarting = (409, f"Container {cid} is restarting, wait until the container is running")

    async def exec_create() -> tuple[int, str]:
        reply = await api_call(
            ns_daemon.socket, "POST", f"/containers/{cid}/exec", body={"Cmd": ["true"]}
        )
        return reply.status, reply.message if reply.status != 201 else ""

    async def state() -> dict[str, object]:
        found: dict[str, object] = (
            await api_call(ns_daemon.socket, "GET", f"/containers/{cid}/json")
        ).json()["State"]
        return found

    try:
        assert (await api_call(ns_daemon.socket, "POST", f"/containers/{cid}/start")).status == 204
        answers: list[tuple[int, str]] = []
        deadline = time.monotonic() + HAMMER_SECONDS
        while time.monotonic() < deadline and len(answers) < HAMMER_MAX:
            answers.append(await exec_create())
        assert set(answers) <= {(201, ""), restarting}, set(answers) - {(201, ""), restarting}
        assert restarting in answers

        # Once inspect shows it restarting (the backoff has grown), the answer is the 409.
        # A 201 is right only when the restart came between the inspect and the create
        # (the backoff ended meanwhile: a new StartedAt); then it is asked again.
        deadline = time.monotonic() + RESTARTING_DEADLINE
        answer = None
        while answer != restarting and time.monotonic() < deadline:
            seen = await state()
            if not seen["Restarting"]:
                continue
            assert seen["Running"] is True
            answer = await exec_create()
            if answer != restarting:
                assert answer == (201, "")
                assert (await state())["StartedAt"] != seen["StartedAt"]
        assert answer == restarting
    finally:
        await api_call(ns_daemon.socket, "DELETE", f"/containers/{cid}", params=[("force", "1")])
