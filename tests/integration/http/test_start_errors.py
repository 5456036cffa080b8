"""POST /containers/{id}/start that fails: the status and message dockerd 20.10 answers for
each kind of failure (observed on /usr/sbin/dockerd 20.10.24 with containerd and runc),
and the container left not running. The daemon runs in a private network namespace, as
some cases make networks."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.support.daemon import Reply, api_call
from tests.support.netns import NetnsDaemon, netns_daemon


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ns_daemon() -> AsyncIterator[NetnsDaemon]:
    async with netns_daemon() as daemon:
        yield daemon


async def call(daemon: NetnsDaemon, method: str, path: str, body: Any = None) -> Reply:
    return await api_call(daemon.socket, method, path, body=body)


async def ok(daemon: NetnsDaemon, method: str, path: str, body: Any = None) -> Reply:
    reply = await call(daemon, method, path, body)
    assert reply.status < 300, (method, path, reply.status, reply.body)
    return reply


# A step between create and the start that is checked: (daemon, container id, scratch dir).
Step = Callable[[NetnsDaemon, str, Path], Awaitable[None]]


async def _nothing(daemon: NetnsDaemon, cid: str, scratch: Path) -> None:
    return None


async def _remove_network(daemon: NetnsDaemon, cid: str, scratch: Path) -> None:
    await ok(daemon, "DELETE", "/networks/start-gone")


async def _remove_bind_source(daemon: NetnsDaemon, cid: str, scratch: Path) -> None:
    (scratch / "src").rmdir()


async def _start(daemon: NetnsDaemon, cid: str, scratch: Path) -> None:
    await ok(daemon, "POST", f"/containers/{cid}/start")


async def _start_and_pause(daemon: NetnsDaemon, cid: str, scratch: Path) -> None:
    await _start(daemon, cid, scratch)
    await ok(daemon, "POST", f"/containers/{cid}/pause")


@dataclass(frozen=True)
class Case:
    id: str
    body: dict[str, Any]
    status: int
    message: str  # "{scratch}" stands for the case's scratch directory
    between: Step = _nothing
    network: str | None = None  # a bridge network made before create
    running: bool = False  # whether the container runs after the start (it did before)
    exit_code: int | None = None  # State.ExitCode after a start that failed, if checked


SLEEP = {"Image": "busybox", "Cmd": ["sleep", "600"]}
RUNC_EXEC = (
    "failed to create shim task: OCI runtime create failed: runc create failed: "
    "unable to start container process: exec: "
)

CASES = [
    Case(
        "link-local-ip-not-link-local",
        {
            **SLEEP,
            "NetworkingConfig": {
                "EndpointsConfig": {"bridge": {"IPAMConfig": {"LinkLocalIPs": ["10.1.2.3"]}}}
            },
        },
        500,  # dockerd 20.10.24 answers 500 for this one (not libnetwork's 400)
        "invalid link local IP address: 10.1.2.3",
    ),
    Case(
        "bind-source-gone-since-create",
        {
            **SLEEP,
            "HostConfig": {
                "Mounts": [{"Type": "bind", "Source": "{scratch}/src", "Target": "/mnt"}]
            },
        },
        400,
        'invalid mount config for type "bind": bind source path does not exist: {scratch}/src',
        between=_remove_bind_source,
    ),
    Case(
        "executable-not-in-path",
        {"Image": "busybox", "Cmd": ["nosuchcmd"]},
        400,
        RUNC_EXEC + '"nosuchcmd": executable file not found in $PATH: unknown',
        exit_code=127,
    ),
    Case(
        "executable-not-executable",
        {"Image": "busybox", "Cmd": ["/etc/passwd"]},
        400,
        RUNC_EXEC + '"/etc/passwd": permission denied: unknown',
        exit_code=126,
    ),
    Case(
        "network-removed-since-create",
        {**SLEEP, "HostConfig": {"NetworkMode": "start-gone"}},
        404,
        "network start-gone not found",
        between=_remove_network,
        network="start-gone",
    ),
    # A seccomp profile is decoded at start: the create took it (201).
    Case(
        "seccomp-profile-not-json",
        {**SLEEP, "HostConfig": {"SecurityOpt": ["seccomp={bad"]}},
        500,
        "Decoding seccomp profile failed: invalid character 'b' looking for beginning of "
        "object key string",
        exit_code=128,
    ),
    Case(
        "seccomp-profile-not-an-object",
        {**SLEEP, "HostConfig": {"SecurityOpt": ["seccomp=[1,2]"]}},
        500,
        "Decoding seccomp profile failed: json: cannot unmarshal array into Go value of type "
        "seccomp.Seccomp",
        exit_code=128,
    ),
    Case(
        "seccomp-rule-without-action",
        {
            **SLEEP,
            "HostConfig": {"SecurityOpt": ['seccomp={"syscalls":[{"names":["read"]}]}']},
        },
        500,
        "failed to create shim task: OCI runtime create failed: runc create failed: "
        "string  is not a valid action for seccomp: unknown",
        exit_code=128,
    ),
    Case("already-running", SLEEP, 304, "", between=_start, running=True),
    Case(
        "paused",
        SLEEP,
        409,
        "cannot start a paused container, try unpause instead",
        between=_start_and_pause,
        running=True,
    ),
]


def _filled(value: Any, scratch: Path) -> Any:
    """`value` with "{scratch}" in its strings replaced by the scratch directory."""
    if isinstance(value, str):
        return value.replace("{scratch}", str(scratch))
    if isinstance(value, list):
        return [_filled(v, scratch) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, scratch) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_failed_start_answers_as_dockerd(ns_daemon: NetnsDaemon, case: Case) -> None:
    with tempfile.TemporaryDirectory(prefix="moorage-start-") as scratch_dir:
        scratch = Path(scratch_dir)
        (scratch / "src").mkdir()
        if case.network:
            await ok(ns_daemon, "POST", "/networks/create", {"Name": case.network})
        created = await ok(ns_daemon, "POST", "/containers/create", _filled(case.body, scratch))
        cid = created.json()["Id"]
        try:
            await case.between(ns_daemon, cid, scratch)
            reply = await call(ns_daemon, "POST", f"/containers/{cid}/start")
            assert reply.status == case.status, reply.body
            if case.status == 304:
                assert reply.body == b""
            else:
                assert reply.json() == {"message": _filled(case.message, scratch)}
            state = (await ok(ns_daemon, "GET", f"/containers/{cid}/json")).json()["State"]
            assert state["Running"] is case.running
            if case.exit_code is not None:
                assert state["ExitCode"] == case.exit_code
                assert state["Error"] == reply.json()["message"]
        finally:
            await ok(ns_daemon, "DELETE", f"/containers/{cid}?force=1")
            if case.network and case.between is not _remove_network:
                await call(ns_daemon, "DELETE", f"/networks/{case.network}")
