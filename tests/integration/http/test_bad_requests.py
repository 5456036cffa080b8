"""Bad requests get dockerd's status codes and messages, and change nothing.

Each case is sent with aiohttp over the unix socket. Around every case the test
takes the container list, each container's inspect and the daemon's containerd
RPC counters: a rejected request must leave all three as they were (no
Containers.Create, no Tasks.* call, no state change).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.daemon import RunningDaemon, running_daemon

JSON = "application/json"
# dockerd's texts that carry the user's input or an id are templates: the
# placeholders are the fixture containers' ids ({running}, {exited}, {paused}).
NAME_IN_USE = (
    'Conflict. The container name "/{name}" is already in use by container "{owner}". '
    "You have to remove (or rename) that container to be able to reuse that name."
)
INVALID_NAME = "Invalid container name (x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
TOO_OLD = (
    "client version {v} is too old. Minimum supported API version is 1.24, "
    "please upgrade your client to a newer version"
)


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    status: int
    # The exact {"message": ...} text; None for an empty body (304).
    message: str | None
    body: bytes | dict[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    # Too-old API versions are answered in text/plain, as dockerd does.
    plain_text: bool = False


def _create(body: dict[str, Any], host_config: dict[str, Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"Image": "busybox", "Cmd": ["true"], **body}
    if host_config is not None:
        document["HostConfig"] = host_config
    return document


CASES = [
    # -- request bodies --------------------------------------------------------------
    Case("truncated-json", "POST", "/v1.41/containers/create", 400,
         "invalid JSON: unexpected EOF",
         body=b'{"Image":"busybox"', headers={"Content-Type": JSON}),
    Case("malformed-json", "POST", "/v1.41/containers/create", 400,
         "invalid JSON: invalid character 'i' looking for beginning of object key string",
         body=b"{invalid json", headers={"Content-Type": JSON}),
    Case("empty-json-body", "POST", "/v1.41/containers/create", 400,
         "invalid JSON: got EOF while reading request body",
         body=b"", headers={"Content-Type": JSON}),
    Case("wrong-content-type", "POST", "/v1.41/containers/create", 400,
         "Content-Type specified (text/plain) must be 'application/json'",
         body=b'{"Image":"busybox"}', headers={"Content-Type": "text/plain"}),
    # -- create ----------------------------------------------------------------------
    Case("invalid-name", "POST", "/v1.41/containers/create", 400, INVALID_NAME,
         body=_create({}), params={"name": "x"}),
    Case("duplicate-name", "POST", "/v1.41/containers/create", 409,
         NAME_IN_USE.format(name="bb-running", owner="{running}"),
         body=_create({}), params={"name": "bb-running"}),
    Case("negative-memory", "POST", "/v1.41/containers/create", 400,
         "Minimum memory limit allowed is 6MB", body=_create({}, {"Memory": -1})),
    Case("memory-below-6mb", "POST", "/v1.41/containers/create", 400,
         "Minimum memory limit allowed is 6MB", body=_create({}, {"Memory": 4 * 1024 * 1024})),
    Case("unknown-runtime", "POST", "/v1.41/containers/create", 400,
         "Unknown runtime specified nosuchrt", body=_create({}, {"Runtime": "nosuchrt"})),
    Case("unknown-image", "POST", "/v1.41/containers/create", 404,
         "No such image: nosuch:v9", body=_create({"Image": "nosuch:v9"})),
    Case("invalid-restart-policy", "POST", "/v1.41/containers/create", 400,
         "invalid restart policy 'sometimes'",
         body=_create({}, {"RestartPolicy": {"Name": "sometimes"}})),
    Case("autoremove-with-restart-policy", "POST", "/v1.41/containers/create", 400,
         "can't create 'AutoRemove' container with restart policy",
         body=_create({}, {"AutoRemove": True, "RestartPolicy": {"Name": "always"}})),
    # -- lifecycle -------------------------------------------------------------------
    Case("kill-unknown-signal", "POST", "/v1.41/containers/bb-running/kill", 400,
         "Invalid signal: FOO", params={"signal": "FOO"}),
    Case("kill-stopped", "POST", "/v1.41/containers/bb-exited/kill", 409,
         "Cannot kill container: bb-exited: Container {exited} is not running"),
    Case("pause-stopped", "POST", "/v1.41/containers/bb-exited/pause", 409,
         "Container {exited} is not running"),
    Case("remove-running", "DELETE", "/v1.41/containers/bb-running", 409,
         "You cannot remove a running container {running}. Stop the container before "
         "attempting removal or force remove"),
    Case("unpause-running", "POST", "/v1.41/containers/bb-running/unpause", 500,
         "Container {running} is not paused"),
    Case("start-running", "POST", "/v1.41/containers/bb-running/start", 304, None),
    Case("start-paused", "POST", "/v1.41/containers/bb-paused/start", 409,
         "cannot start a paused container, try unpause instead"),
    Case("stop-stopped", "POST", "/v1.41/containers/bb-exited/stop", 304, None),
    Case("wait-invalid-condition", "POST", "/v1.41/containers/bb-running/wait", 400,
         'invalid condition: "bogus"', params={"condition": "bogus"}),
    Case("rename-to-taken-name", "POST", "/v1.41/containers/bb-running/rename", 409,
         NAME_IN_USE.format(name="bb-exited", owner="{exited}"), params={"name": "bb-exited"}),
    Case("rename-to-invalid-name", "POST", "/v1.41/containers/bb-running/rename", 400,
         INVALID_NAME, params={"name": "x"}),
    Case("logs-no-stream", "GET", "/v1.41/containers/bb-running/logs", 400,
         "Bad parameters: you must choose at least one stream"),
    # -- exec ------------------------------------------------------------------------
    Case("exec-in-stopped", "POST", "/v1.41/containers/bb-exited/exec", 409,
         "Container {exited} is not running", body={"Cmd": ["echo", "hi"]}),
    Case("exec-in-paused", "POST", "/v1.41/containers/bb-paused/exec", 409,
         "Container bb-paused is paused, unpause the container before exec",
         body={"Cmd": ["echo", "hi"]}),
    Case("exec-without-command", "POST", "/v1.41/containers/bb-running/exec", 400,
         "No exec command specified", body={"Cmd": []}),
    Case("exec-start-unknown", "POST", "/v1.41/exec/nosuchexec/start", 404,
         "No such exec instance: nosuchexec", body={"Detach": False, "Tty": False}),
    # -- list filters ----------------------------------------------------------------
    Case("filters-bad-json", "GET", "/v1.41/containers/json", 400, "invalid filter",
         params={"all": "1", "filters": "{bad"}),
    Case("filters-unknown-key", "GET", "/v1.41/containers/json", 400,
         "Invalid filter 'nosuchkey'", params={"filters": '{"nosuchkey":{"x":true}}'}),
    Case("filters-bad-status", "GET", "/v1.41/containers/json", 400,
         "Invalid filter 'status=sleepy'", params={"filters": '{"status":{"sleepy":true}}'}),
    # -- unknown containers ------------------------------------------------------------
    *(
        Case(f"{what}-unknown-container", method, path, 404, "No such container: nosuch",
             params=params)
        for what, method, path, params in (
            ("start", "POST", "/v1.41/containers/nosuch/start", {}),
            ("stop", "POST", "/v1.41/containers/nosuch/stop", {}),
            ("wait", "POST", "/v1.41/containers/nosuch/wait", {}),
            ("logs", "GET", "/v1.41/containers/nosuch/logs", {"stdout": "1"}),
            ("inspect", "GET", "/v1.41/containers/nosuch/json", {}),
            ("delete", "DELETE", "/v1.41/containers/nosuch", {}),
            ("attach", "POST", "/v1.41/containers/nosuch/attach", {"stream": "1"}),
        )
    ),
    Case("kill-unknown-container", "POST", "/v1.41/containers/nosuch/kill", 404,
         "Cannot kill container: nosuch: No such container: nosuch"),
    # -- routing and versions ----------------------------------------------------------
    Case("unknown-route", "GET", "/v1.41/nosuch", 404, "page not found"),
    Case("wrong-method", "PUT", "/v1.41/containers/json", 404, "page not found"),
    # Found by the API fuzz. Digits other than ASCII (Python's isdigit() takes "¹", int()
    # does not) were 500s; no such endpoint to force away is dockerd's 404, not a 500.
    Case("control-character-in-server-address", "POST", "/v1.41/auth", 400,
         'unable to parse server address: parse "https://reg\\x1fistry": '
         "net/url: invalid control character in URL",
         body={"username": "u", "password": "p", "serveraddress": "reg\u001fistry"}),
    Case("superscript-stop-signal", "POST", "/v1.41/containers/create", 400,
         "Invalid signal: \u00b9", body=_create({"StopSignal": "\u00b9"})),
    Case("superscript-port", "POST", "/v1.41/containers/create", 400,
         'invalid port specification: "\u00b9"',
         body=_create({}, {"PortBindings": {"\u00b9/tcp": [{"HostPort": "80"}]}})),
    Case("superscript-host-port", "POST", "/v1.41/containers/create", 400,
         'invalid port specification: "\u00b2"',
         body=_create({}, {"PortBindings": {"80/tcp": [{"HostPort": "\u00b2"}]}})),
    Case("force-disconnect-unknown-endpoint", "POST", "/v1.41/networks/host/disconnect", 404,
         "endpoint gone not found", body={"Container": "gone", "Force": True}),
    Case("api-version-too-old", "GET", "/v1.12/version", 400,
         TOO_OLD.format(v="1.12"), plain_text=True),
    Case("api-version-1.23-too-old", "GET", "/v1.23/containers/json", 400,
         TOO_OLD.format(v="1.23"), plain_text=True),
    Case("api-version-too-new", "GET", "/v1.99/version", 400,
         "client version 1.99 is too new. Maximum supported API version is 1.56"),
]  # fmt: skip


@dataclass
class Fixtures:
    daemon: RunningDaemon
    session: aiohttp.ClientSession
    ids: dict[str, str]
    # containerd's containers once the fixture containers exist.
    containerd_containers: set[str]


async def _call(
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    *,
    body: bytes | dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> tuple[int, str, bytes]:
    """(status, content type, body) of one request."""
    sent_headers = dict(headers or {})
    data: bytes | None
    if isinstance(body, dict):
        data = json.dumps(body).encode()
        sent_headers.setdefault("Content-Type", JSON)
    else:
        data = body
    async with session.request(
        method, "http://localhost" + path, data=data, headers=sent_headers, params=params
    ) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


async def _ok(session: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> Any:
    status, _, raw = await _call(session, method, path, **kw)
    assert status < 300, (method, path, status, raw)
    return json.loads(raw) if raw.strip() else None


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> AsyncIterator[Fixtures]:
    async with running_daemon(containerd, busybox_image) as daemon:
        connector = aiohttp.UnixConnector(path=str(daemon.socket))
        async with aiohttp.ClientSession(connector=connector) as session:
            ids: dict[str, str] = {}
            for name, cmd in (
                ("bb-running", ["sleep", "300"]),
                ("bb-exited", ["true"]),
                ("bb-paused", ["sleep", "300"]),
            ):
                created = await _ok(
                    session, "POST", "/v1.41/containers/create",
                    body={"Image": "busybox", "Cmd": cmd}, params={"name": name},
                )  # fmt: skip
                ids[name.removeprefix("bb-")] = created["Id"]
                await _ok(session, "POST", f"/v1.41/containers/{name}/start")
            waited = await _ok(session, "POST", "/v1.41/containers/bb-exited/wait")
            assert waited == {"Error": None, "StatusCode": 0}
            await _ok(session, "POST", "/v1.41/containers/bb-paused/pause")
            existing = set(await containerd.list_containers())
            try:
                yield Fixtures(daemon, session, ids, existing)
            finally:
                for name in ("bb-running", "bb-exited", "bb-paused"):
                    await _call(session, "DELETE", f"/v1.41/containers/{name}?force=1")


async def _observed_state(fx: Fixtures) -> dict[str, Any]:
    listed = await _ok(fx.session, "GET", "/v1.41/containers/json", params={"all": "1"})
    # "Status" is prose relative to now ("Up 3 seconds"): it changes with the clock alone.
    summaries = sorted(
        ({k: v for k, v in entry.items() if k != "Status"} for entry in listed),
        key=lambda entry: entry["Id"],
    )
    inspects = {
        entry["Id"]: await _ok(fx.session, "GET", f"/v1.41/containers/{entry['Id']}/json")
        for entry in listed
    }
    return {"list": summaries, "inspect": inspects}


def _state_changing_rpcs(counts: Mapping[str, int]) -> dict[str, int]:
    return {
        method: n
        for method, n in counts.items()
        if method.split(".")[0] in ("Containers", "Tasks", "Snapshots")
    }


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_bad_request(world: Fixtures, case: Case) -> None:
    client = world.daemon.services.client
    assert client is not None
    before = await _observed_state(world)
    rpcs_before = _state_changing_rpcs(client.rpc_counts())

    status, content_type, raw = await _call(
        world.session,
        case.method,
        case.path.format(**world.ids),
        body=case.body,
        headers=case.headers,
        params=case.params,
    )

    assert status == case.status, raw
    if case.message is None:
        assert raw == b""
    elif case.plain_text:
        assert content_type.startswith("text/plain")
        assert raw.decode() == case.message.format(**world.ids) + "\n"
    else:
        assert content_type == JSON
        assert json.loads(raw) == {"message": case.message.format(**world.ids)}
        assert raw.endswith(b"\n")
    assert _state_changing_rpcs(client.rpc_counts()) == rpcs_before
    assert await _observed_state(world) == before


async def test_rejected_requests_left_no_containerd_containers(
    world: Fixtures, containerd: TestContainerd
) -> None:
    """After the whole table, containerd holds exactly the three fixture containers."""
    ours = set(world.ids.values())
    daemon_ids = {live.id for live in world.daemon.services.daemon.containers()}
    assert daemon_ids == ours
    in_containerd = set(await containerd.list_containers())
    assert ours <= in_containerd
    assert in_containerd == world.containerd_containers
    listed = await _ok(world.session, "GET", "/v1.41/containers/json", params={"all": "1"})
    assert {entry["Id"] for entry in listed} == ours
