"""The real curl pinned at the oldest (/v1.24) and newest (/v1.56) API versions, and out of
range: each version gets its own shapes, out-of-range ones dockerd's status and text."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest_asyncio

from tests.support.daemon import RunningDaemon

OLDEST, NEWEST = "1.24", "1.56"


async def curl(daemon: RunningDaemon, path: str, *args: str) -> tuple[bytes, bytes]:
    """curl -i over the daemon's socket: (head, body)."""
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-i", "-g", "--max-time", "20", "--unix-socket", str(daemon.socket),
        *args, f"http://moorage{path}",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err
    head, _, body = out.partition(b"\r\n\r\n")
    return head, body


def header(head: bytes, name: str) -> str | None:
    for line in head.decode().split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def echoed(daemon: RunningDaemon) -> AsyncIterator[str]:
    """A container that said hello and exited."""
    created = await daemon.call(
        "POST", "/containers/create", body={"Image": "busybox", "Cmd": ["echo", "hello"]}
    )
    ref = str(created.json()["Id"])
    await daemon.call("POST", f"/containers/{ref}/start")
    waited = await daemon.call("POST", f"/containers/{ref}/wait")
    assert waited.json()["StatusCode"] == 0
    try:
        yield ref
    finally:
        await daemon.call("DELETE", f"/containers/{ref}", params=[("force", "1")])


async def test_version_reports_both_limits_at_any_version(daemon: RunningDaemon) -> None:
    for version in (OLDEST, NEWEST):
        head, body = await curl(daemon, f"/v{version}/version")
        assert status(head) == 200
        assert header(head, "Api-Version") == NEWEST
        reply = json.loads(body)
        assert (reply["ApiVersion"], reply["MinAPIVersion"]) == (NEWEST, OLDEST)


async def test_image_inspect_shapes(daemon: RunningDaemon) -> None:
    _, old = await curl(daemon, f"/v{OLDEST}/images/busybox/json")
    _, new = await curl(daemon, f"/v{NEWEST}/images/busybox/json")
    old_doc, new_doc = json.loads(old), json.loads(new)
    assert old_doc["Id"] == new_doc["Id"]
    for key in ("Container", "ContainerConfig", "VirtualSize", "Author", "Comment"):
        assert key in old_doc and key not in new_doc, key
    assert "Hostname" in old_doc["Config"] and "Hostname" not in new_doc["Config"]


async def test_hijack_content_type(daemon: RunningDaemon, echoed: str) -> None:
    path = f"/containers/{echoed}/attach?logs=1&stdout=1&stream=0"
    upgrade = ("-X", "POST", "-H", "Connection: Upgrade", "-H", "Upgrade: tcp")
    old_head, old_body = await curl(daemon, f"/v{OLDEST}{path}", *upgrade)
    new_head, new_body = await curl(daemon, f"/v{NEWEST}{path}", *upgrade)
    assert status(old_head) == status(new_head) == 101
    assert header(old_head, "Content-Type") == "application/vnd.docker.raw-stream"
    assert header(new_head, "Content-Type") == "application/vnd.docker.multiplexed-stream"
    # The stream itself is framed the same at both: stdout, then the length.
    assert old_body == new_body == b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n"


async def test_events_shapes(daemon: RunningDaemon, echoed: str) -> None:
    filters = quote(json.dumps({"container": [echoed]}))
    # `until` a second from now: the stream ends then instead of waiting for more.
    window = f"since=0&until={int(time.time()) + 1}&filters={filters}"
    old_head, old = await curl(daemon, f"/v{OLDEST}/events?{window}")
    new_head, new = await curl(daemon, f"/v{NEWEST}/events?{window}")
    assert header(old_head, "Content-Type") == "application/json"
    assert header(new_head, "Content-Type") == "application/jsonl"
    old_first, new_first = json.loads(old.splitlines()[0]), json.loads(new.splitlines()[0])
    assert old_first["status"] == new_first["Action"] == "create"
    # The pre-1.22 fields are kept at every version (docker-compose 1.29 reads `id`).
    assert new_first["status"] == "create" and new_first["id"] == new_first["Actor"]["ID"]
    assert new_first["Actor"]["ID"] == echoed


async def test_out_of_range_versions(daemon: RunningDaemon) -> None:
    head, body = await curl(daemon, "/v1.57/version")
    assert status(head) == 400
    assert header(head, "Content-Type") == "application/json"
    assert json.loads(body) == {
        "message": "client version 1.57 is too new. Maximum supported API version is 1.56"
    }
    # dockerd answers versions up to 1.23 in plain text.
    head, body = await curl(daemon, "/v1.23/version")
    assert status(head) == 400
    assert header(head, "Content-Type") == "text/plain; charset=utf-8"
    assert body == (
        b"client version 1.23 is too old. Minimum supported API version is 1.24, "
        b"please upgrade your client to a newer version\n"
    )
