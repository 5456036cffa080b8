"""What every route module shares: the daemon's app key, query parsing, JSON replies, and
the copy loop between a hijacked connection and an attachment."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from daemon import errors
from daemon.container.io import Attachment, StdioHub
from daemon.daemon import Daemon

from ..hijack import HijackedConnection
from ..stdcopy import Stream, encode_frame
from ..streams import ClientGone, json_line

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
    return web.Response(body=json_line(obj), status=status, content_type="application/json")


_STREAMS = {"stdout": Stream.STDOUT, "stderr": Stream.STDERR}


async def pump_attachment(
    conn: HijackedConnection,
    attachment: Attachment,
    tty: bool,
    stdin_hub: StdioHub | None,
    *,
    close_stdin_at_eof: bool,
) -> None:
    """Copy output to the client until the run ends or the client leaves, and the client's
    bytes to stdin."""
    stdin_task = None
    if stdin_hub is not None:
        stdin_task = asyncio.ensure_future(_copy_stdin(conn, stdin_hub, close_stdin_at_eof))
    # A silent process gives no write that could fail: without this, a client that
    # left would hold the handler (and its connection) until the next output.
    gone = asyncio.ensure_future(conn.wait_closed())

    def end_when_gone(done: asyncio.Future[None]) -> None:
        if not done.cancelled():
            attachment.offer(None)

    gone.add_done_callback(end_when_gone)
    try:
        while (item := await attachment.next()) is not None:
            name, data = item
            await conn.write(data if tty else encode_frame(_STREAMS[name], data))
    except ClientGone:
        pass
    finally:
        gone.cancel()
        if stdin_task is not None:
            stdin_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await stdin_task


async def _copy_stdin(conn: HijackedConnection, hub: StdioHub, close_at_eof: bool) -> None:
    while data := await conn.read():
        try:
            await hub.write_stdin(data)
        except OSError:
            return
    if close_at_eof:
        await hub.close_stdin()
