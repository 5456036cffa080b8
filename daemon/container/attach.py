"""A client's view of a container's stdio: `docker attach`, `docker logs` and the
terminal's size."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from .. import errors
from ..logs.config import ensure_readable
from ..logs.entry import LogEntry
from ..logs.jsonfile import JsonFileWriter
from ..logs.reader import read_logs
from .io import Attachment
from .live import LiveContainer
from .model import Status
from .stop import running_task

if TYPE_CHECKING:
    from ..daemon import Daemon


def attach(
    daemon: Daemon, ref: str, stdout: bool, stderr: bool
) -> tuple[LiveContainer, Attachment]:
    live = daemon.get(ref)
    if live.model.state.status in (Status.REMOVING, Status.DEAD):
        raise errors.Conflict("You cannot attach to a stopped container, start it first")
    attachment = live.hub.attach(stdout, stderr)
    daemon.container_event(live, "attach")
    return live, attachment


def logs(
    daemon: Daemon,
    ref: str,
    *,
    stdout: bool,
    stderr: bool,
    follow: bool,
    since: float | None,
    until: float | None,
    tail: int | None,
) -> tuple[LiveContainer, AsyncGenerator[LogEntry, None]]:
    live = daemon.get(ref)
    log_config = live.model.host_config.get("LogConfig") or {}
    ensure_readable(log_config.get("Type") or "json-file")
    if not (stdout or stderr):
        raise errors.InvalidParameter("Bad parameters: you must choose at least one stream")
    writer = live.hub.sink if live.hub.running else None
    entries = read_logs(
        str(live.model.log_path),
        since=since,
        until=until,
        tail=tail,
        follow=follow and writer is not None,
        stdout=stdout,
        stderr=stderr,
        writer=writer if isinstance(writer, JsonFileWriter) else None,
    )
    return live, entries


async def resize(daemon: Daemon, ref: str, height: int, width: int) -> None:
    live = daemon.get(ref)
    task = running_task(live)
    await task.resize(width, height)
