"""Exec endpoints: create, start (hijacked or detached), inspect, resize."""

from __future__ import annotations

import asyncio
import base64
import contextlib

from aiohttp import web

from daemon.container.live import ExecRecord
from daemon.errors import DaemonError
from wire.api_versions import EXEC_CONSOLE_SIZE
from wire.exec import (
    ExecCreateRequest,
    ExecCreateResponse,
    ExecInspect,
    ExecProcessConfig,
    ExecStartRequest,
)

from ..body import read_json
from ..hijack import HijackedConnection, hijack, stream_content_type
from ..stdcopy import Stream, encode_frame
from ..streams import ClientGone
from ..versioning import api_version
from .common import DAEMON, AttachEnd, int_param, json_reply, pump_attachment


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, ExecCreateRequest)
    if not EXEC_CONSOLE_SIZE.applies(api_version(request)):
        body.ConsoleSize = None
    config = body.model_dump(by_alias=True, mode="json")
    exec_id = await request.app[DAEMON].execs.create_settled(request.match_info["name"], config)
    reply: ExecCreateResponse = {"Id": exec_id}
    return json_reply(reply, status=201)


async def start(request: web.Request) -> web.StreamResponse:
    daemon = request.app[DAEMON]
    body = await read_json(request, ExecStartRequest, empty_ok=True)
    record, attachment = await daemon.execs.prepare_settled(request.match_info["id"])
    # As in dockerd, the START request's Tty says how the reply is framed; the exec's
    # own Tty only says whether its process gets a terminal.
    tty = body.Tty
    try:
        if body.Detach:
            await daemon.execs.start(record)
            return web.Response(status=200)
        conn = await hijack(request, content_type=stream_content_type(api_version(request), tty))
        async with conn:
            try:
                await daemon.execs.start(record)
            except DaemonError as exc:
                # Once the stream is open, dockerd reports a start's error in it, as output.
                with contextlib.suppress(ClientGone):
                    await conn.write(_output(f"{exc}\r\n".encode(), tty))
                return conn.response
            end = await pump_attachment(
                conn,
                attachment,
                tty,
                record.hub if record.config.get("AttachStdin") else None,
                close_stdin_at_eof=True,
                terminal=record.tty,  # the exec's own Tty, not the start request's
                detach_keys=record.detach_keys,
            )
            if end is AttachEnd.DETACHED:
                # dockerd 20.10 reports an exec's detach as its start's error, in the
                # stream (the SDK's own tests expect these bytes or nothing); the
                # process runs on.
                with contextlib.suppress(ClientGone):
                    await conn.write(_output(_DETACHED, tty))
            elif end is AttachEnd.OUTPUT:
                await _exited_or_gone(record, conn)
        return conn.response
    finally:
        record.hub.detach(attachment)


_DETACHED = b"exec attach failed: error on attach stdin: read escape sequence\r\n"


def _output(data: bytes, tty: bool) -> bytes:
    """`data` as the stream's stdout: raw on a terminal, else in a stdout frame."""
    return data if tty else encode_frame(Stream.STDOUT, data)


async def _exited_or_gone(record: ExecRecord, conn: HijackedConnection) -> None:
    """Hold the end of the stream until the exit code is known, or the client left.

    The output can end before containerd reports the exit. Clients read the end of
    the stream as "exited" and inspect the exec for its ExitCode at once (the CLI,
    the SDK's exec_run), so, as in dockerd, the stream ends after the exit is recorded.

    The handler waits on the exit itself, so that the exit's `finish` wakes it in one
    turn of the loop, before work the exit's handling starts after it (ExecManager.exited);
    the client leaving ends the wait as a deadline would.
    """
    if record.exited.is_set() or conn.closed:
        return
    loop = asyncio.get_running_loop()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(None) as deadline:
            stop_watching = conn.on_close(lambda: deadline.reschedule(loop.time()))
            try:
                await record.exited.wait()
            finally:
                stop_watching()


async def inspect(request: web.Request) -> web.Response:
    record = request.app[DAEMON].execs.get(request.match_info["id"])
    config = record.config
    cmd = list(config.get("Cmd") or [])  # type: ignore[call-overload]
    process: ExecProcessConfig = {
        "tty": bool(config.get("Tty")),
        "entrypoint": cmd[0] if cmd else "",
        "arguments": cmd[1:],
        "privileged": bool(config.get("Privileged")),
    }
    if user := config.get("User"):
        process["user"] = str(user)
    body: ExecInspect = {
        "ID": record.id,
        "Running": record.running,
        "ExitCode": record.exit_code,
        "ProcessConfig": process,
        "OpenStdin": bool(config.get("AttachStdin")),
        "OpenStderr": bool(config.get("AttachStderr")),
        "OpenStdout": bool(config.get("AttachStdout")),
        "CanRemove": False,
        "ContainerID": record.container_id,
        # A Go []byte: base64, and "" when the exec has no keys of its own.
        "DetachKeys": base64.b64encode(record.detach_keys).decode()
        if config.get("DetachKeys")
        else "",
        "Pid": record.pid,
    }
    return json_reply(body)


async def resize(request: web.Request) -> web.Response:
    height, width = int_param(request, "h", 0), int_param(request, "w", 0)
    await request.app[DAEMON].execs.resize(request.match_info["id"], height or 0, width or 0)
    return web.Response(status=201)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/containers/{name}/exec", create)
    router.add_post("/exec/{id}/start", start)
    router.add_get("/exec/{id}/json", inspect)
    router.add_post("/exec/{id}/resize", resize)
