"""The end of an attached exec's stream (POST /exec/{id}/start, not detached), as the
bench's `docker exec` and the SDK's exec_run read it: all the output first, in order,
then the end, after which the exec's inspect has its exit code. And a client that leaves
while a silent exec runs on lets its handler go at once, not at the exec's exit."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable

import pytest_asyncio

from api.stdcopy import Stream, decode_frames
from tests.support.daemon import RunningDaemon

DEADLINE = 20.0
LINES = 300


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def container(daemon: RunningDaemon) -> AsyncIterator[str]:
    status, body = await daemon.request(
        "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "600"]}
    )
    assert status == 201, body
    cid = body["Id"]
    assert (await daemon.request("POST", f"/containers/{cid}/start"))[0] == 204
    yield cid
    await daemon.request("DELETE", f"/containers/{cid}", force="1")


async def _exec(daemon: RunningDaemon, cid: str, cmd: list[str]) -> str:
    status, body = await daemon.request(
        "POST",
        f"/containers/{cid}/exec",
        {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True},
    )
    assert status == 201, body
    exec_id: str = body["Id"]
    return exec_id


async def _start(
    daemon: RunningDaemon, exec_id: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """The start request, hijacked as the CLI asks for it; returns after the 101."""
    reader, writer = await asyncio.open_unix_connection(str(daemon.socket))
    body = json.dumps({"Detach": False, "Tty": False}).encode()
    head = (
        f"POST /v1.41/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\n"
        "Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    reply = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
    assert reply.startswith(b"HTTP/1.1 101 "), reply
    return reader, writer


async def _until(done: Callable[[], bool]) -> None:
    """Poll the daemon's state (in this process) until `done`, within the deadline."""
    deadline = time.monotonic() + DEADLINE
    while True:
        if done():
            return
        assert time.monotonic() < deadline, "not within the deadline"
        await asyncio.sleep(0.02)


async def test_output_then_end_then_exit_code(daemon: RunningDaemon, container: str) -> None:
    script = (
        f"i=0; while [ $i -lt {LINES} ]; do echo out$i; echo err$i >&2; i=$((i+1)); done; exit 3"
    )
    exec_id = await _exec(daemon, container, ["sh", "-c", script])
    reader, writer = await _start(daemon, exec_id)
    try:
        data = await asyncio.wait_for(reader.read(), DEADLINE)  # to the end of the stream
    finally:
        writer.close()
    # Right after the end, as clients ask: over, with its code.
    status, inspected = await daemon.request("GET", f"/exec/{exec_id}/json")
    assert status == 200
    assert (inspected["Running"], inspected["ExitCode"]) == (False, 3)
    frames = decode_frames(data)
    out = b"".join(chunk for stream, chunk in frames if stream is Stream.STDOUT)
    err = b"".join(chunk for stream, chunk in frames if stream is Stream.STDERR)
    assert out == b"".join(b"out%d\n" % i for i in range(LINES))
    assert err == b"".join(b"err%d\n" % i for i in range(LINES))


async def test_client_leaving_a_silent_exec_frees_its_handler(
    daemon: RunningDaemon, container: str
) -> None:
    # Its output ends at once (closed), the process runs on: the stream waits for the exit.
    exec_id = await _exec(daemon, container, ["sh", "-c", "exec >&- 2>&-; sleep 60"])
    _, writer = await _start(daemon, exec_id)
    record = daemon.services.daemon.execs.get(exec_id)
    await _until(lambda: record.pid != 0)  # started
    assert record.hub.client_count == 1
    writer.close()  # the client goes away entirely
    await _until(lambda: record.hub.client_count == 0)
    assert record.running  # the handler went, the exec runs on
    status, inspected = await daemon.request("GET", f"/exec/{exec_id}/json")
    assert (status, inspected["Running"], inspected["ExitCode"]) == (200, True, None)
