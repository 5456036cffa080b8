"""What every route module shares: the daemon's app key, query parsing, JSON replies, and
the copy loop between a hijacked connection and an attachment."""

from __future__ import annotations

import asyncio
import contextlib
import enum
from typing import Any

from aiohttp import web

from daemon import errors
from daemon.container.detach import DEFAULT_DETACH_KEYS, DetachScanner
from daemon.container.io import Attachment, StdioHub
from daemon.daemon import Daemon

from ..hijack import HijackedConnection
from ..stdcopy import Stream, encode_frame
from ..streams import JSON_HEADERS, ClientGone, json_line

DAEMON = web.AppKey("daemon", Daemon)

_FALSE = {"", "0", "no", "false", "none"}


def bool_param(request: web.Request, name: str) -> bool:
    """dockerd's rule: anything but empty, 0, no, false and none is true."""
    return request.query.get(name, "").strip().lower() not in _FALSE


def int_param(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.InvalidParameter(f"invalid value for {name}: {raw!r}") from None


def json_reply(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=json_line(obj), status=status, headers=JSON_HEADERS)


_STREAMS = {"stdout": Stream.STDOUT, "stderr": Stream.STDERR}


class AttachEnd(enum.Enum):
    """Why an attachment ended."""

    OUTPUT = "output"  # the run's output ended, or the client left
    DETACHED = "detached"  # the client typed the detach keys
    STDIN = "stdin"  # the end of the client's stdin ended it (see pump_attachment)


async def pump_attachment(
    conn: HijackedConnection,
    attachment: Attachment,
    tty: bool,
    stdin_hub: StdioHub | None,
    *,
    close_stdin_at_eof: bool,
    terminal: bool = False,
    detach_keys: bytes = DEFAULT_DETACH_KEYS,
) -> AttachEnd:
    """Copy output to the client (raw if `tty`, else in stdcopy frames) until the run
    ends, the client leaves or detaches, and the client's bytes to stdin.

    When the process has a `terminal`, as in dockerd, its stdin is watched for
    `detach_keys`, and the end of the client's stdin ends the attachment too; either
    way the process's stdin stays open and it runs on. Without one, the end of the
    client's stdin closes the process's if `close_stdin_at_eof`."""
    stdin_task = None
    scanner = DetachScanner(detach_keys) if terminal else None
    ended_by_stdin = False

    async def copy_stdin(hub: StdioHub) -> None:
        nonlocal ended_by_stdin
        end = await _copy_stdin(conn, hub, scanner)
        if end is AttachEnd.DETACHED or (end is AttachEnd.STDIN and terminal):
            ended_by_stdin = True
            attachment.offer(None)
        elif end is AttachEnd.STDIN and close_stdin_at_eof:
            await hub.close_stdin()

    if stdin_hub is not None:
        stdin_task = asyncio.ensure_future(copy_stdin(stdin_hub))
    # A silent process gives no write that could fail: without this, a client that
    # left would hold the handler (and its connection) until the next output.
    stop_watching = conn.on_close(lambda: attachment.offer(None))
    try:
        while (item := await attachment.next()) is not None:
            name, data = item
            await conn.write(data if tty else encode_frame(_STREAMS[name], data))
    except ClientGone:
        pass
    finally:
        stop_watching()
        if stdin_task is not None:
            stdin_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await stdin_task
    if scanner is not None and scanner.detached:
        return AttachEnd.DETACHED
    return AttachEnd.STDIN if ended_by_stdin and not conn.closed else AttachEnd.OUTPUT


async def _copy_stdin(
    conn: HijackedConnection, hub: StdioHub, scanner: DetachScanner | None
) -> AttachEnd:
    """Copy the client's bytes to stdin until its EOF (STDIN) or the detach keys
    (DETACHED). OUTPUT: the process's stdin is gone, the output decides the end."""
    while data := await conn.read():
        if scanner is not None:
            data = scanner.feed(data)
        try:
            if data:
                await hub.write_stdin(data)
        except OSError:
            return AttachEnd.OUTPUT
        if scanner is not None and scanner.detached:
            return AttachEnd.DETACHED
    return AttachEnd.STDIN
