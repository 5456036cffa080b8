"""Exec instances: created by the API, started into a running task, ended by their exit event.

An exec lives until its container goes away, so that `docker exec` can read its
exit code after the process is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Collection
from typing import Any, Protocol

from libcontainerd import errors as lcd_errors
from libcontainerd.types import EventInfo, Process, StdioSpec

from . import errors, oci
from .container.detach import parse_detach_keys
from .container.io import Attachment
from .container.live import ExecRecord, LiveContainer
from .container.model import Status
from .container.status_text import status_text
from .oci.users import resolve_user
from .start_errors import runtime_start_error

log = logging.getLogger(__name__)


class ExecHost(Protocol):
    """What execs need of the daemon: its containers, and its events."""

    def get(self, ref: str) -> LiveContainer: ...

    def find(self, container_id: str) -> LiveContainer | None: ...

    def container_event(self, live: LiveContainer, action: str, **extra: str) -> None: ...


class ExecManager:
    def __init__(self, host: ExecHost, capabilities: Collection[str]) -> None:
        self._host = host
        # What a privileged exec gets: the daemon's own bounding set, of what dockerd knows.
        self._capabilities = sorted(oci.all_capabilities(capabilities))
        self._records: dict[str, ExecRecord] = {}

    def forget(self, live: LiveContainer) -> None:
        """The container is gone, and its execs with it."""
        for exec_id in live.execs:
            self._records.pop(exec_id, None)

    def container_exited(self, live: LiveContainer) -> None:
        """The container's run is over. As in dockerd, an exec never started goes (its id is
        then a 404); one that ran stays to be inspected, its exit code 137 if its own exit
        was not seen."""
        for record in list(live.execs.values()):
            if record.process is None and not record.running and record.exit_code is None:
                live.execs.pop(record.id)
                self._records.pop(record.id, None)
            self.finish(record, record.exit_code if record.exit_code is not None else 137)

    async def create_settled(self, ref: str, config: dict[str, Any]) -> str:
        """`create` for a client: once a change under way is over (`_settled`)."""
        await _settled(self._host.get(ref))
        return self.create(ref, config)

    def create(self, ref: str, config: dict[str, Any], *, probe: bool = False) -> str:
        """A new exec; a healthcheck's `probe` is discarded once it is over."""
        live = self._host.get(ref)
        if live.model.state.paused:
            raise errors.Conflict(f"Container {ref} is paused, unpause the container before exec")
        if live.model.state.status is Status.RESTARTING:
            raise _restarting(live)
        if not live.model.state.running or live.task is None:
            raise errors.Conflict(f"Container {live.id} is not running")
        if not config.get("Cmd"):
            raise errors.InvalidParameter("No exec command specified")
        keys = str(config.get("DetachKeys") or "")
        try:
            parse_detach_keys(keys)
        except ValueError:
            # dockerd's plain error: a 500.
            raise errors.SystemError(f"Invalid escape keys ({keys}) provided") from None
        exec_id = secrets.token_hex(32)
        record = ExecRecord(exec_id, live.id, dict(config), probe=probe)
        live.execs[exec_id] = record
        if not probe:
            live.model.exec_ids.append(exec_id)
        self._records[exec_id] = record
        self._host.container_event(live, f"exec_create: {_command(config)}", execID=exec_id)
        return exec_id

    def discard(self, record: ExecRecord) -> None:
        """Drop a finished healthcheck probe, so that probes do not pile up."""
        self._records.pop(record.id, None)
        live = self._host.find(record.container_id)
        if live is not None:
            live.execs.pop(record.id, None)

    def get(self, exec_id: str) -> ExecRecord:
        record = self._records.get(exec_id)
        if record is None:
            raise errors.NotFound(f"No such exec instance: {exec_id}")
        return record

    async def prepare_settled(self, exec_id: str) -> tuple[ExecRecord, Attachment]:
        """`prepare` for a client: once a change under way is over (`_settled`)."""
        live = self._host.find(self.get(exec_id).container_id)
        if live is not None:
            await _settled(live)
        return self.prepare(exec_id)

    def prepare(self, exec_id: str) -> tuple[ExecRecord, Attachment]:
        """Validate an exec start and attach to its output, before the reply is sent."""
        record = self.get(exec_id)
        live = self._host.find(record.container_id)
        if live is None:
            raise errors.NotFound(f"No such container: {exec_id}")
        state = live.model.state
        if state.status is Status.RESTARTING:
            raise _restarting(live)
        if not state.running or live.task is None:
            # dockerd's plain error (a 500), naming the state as `docker ps` does.
            raise errors.SystemError(f"Container {live.id} is not running: {status_text(state)}")
        if live.model.state.paused:
            raise errors.Conflict(
                f"Container {record.container_id} is paused, unpause the container before exec"
            )
        return record, record.hub.attach(True, True)

    async def start(self, record: ExecRecord) -> None:
        """Start a prepared exec, or raise dockerd's error for why it could not start.

        An exec the runtime would not start is over: it exits with 126 (dockerd 20.10's
        code for every such failure) and the error says why, in the runtime's words.
        """
        if record.exit_code is not None:
            raise errors.Conflict(f"Error: Exec command {record.id} has already run")
        if record.running:
            raise errors.Conflict(f"Error: Exec command {record.id} is already running")
        live = self._host.find(record.container_id)
        task = live.task if live is not None else None
        if live is None or task is None:
            raise errors.Conflict(f"Container {record.container_id} is not running")
        record.running = True
        config = record.config
        # As in dockerd, before the runtime is asked: a start that fails has one too.
        self._host.container_event(live, f"exec_start: {_command(config)}", execID=record.id)
        tty = bool(config.get("Tty"))
        try:
            spec = self._process_spec(live, config)
            process = await task.exec(
                record.id,
                spec,
                StdioSpec(
                    stdin=bool(config.get("AttachStdin")), stdout=True, stderr=True, terminal=tty
                ),
            )
            record.process = process
            # Copying starts before the process does, so that its first bytes have a reader.
            record.hub.start_run(process.stdio, None, process.close_stdin)
            try:
                record.pid = await process.start()
            finally:
                answered, record.start_answered = record.start_answered, None
                if answered is not None and not answered.done():
                    answered.set_result(None)
            record.hub.open_stdin()
        except oci.SpecError as exc:
            # Found by the daemon itself (a user not in the container's passwd): a plain 500.
            await self._failed(record, str(exc))
            raise errors.SystemError(str(exc)) from None
        except lcd_errors.LibcontainerdError as exc:
            await self._failed(record, str(exc))
            raise runtime_start_error(str(exc)) from None

    async def _failed(self, record: ExecRecord, message: str) -> None:
        log.info("exec %s failed to start: %s", record.id[:12], message)
        # The shim may never have opened this process's FIFOs, so no end of stream need come:
        # closing them (once, here) ends the copiers, and with them any client's stream.
        record.hub.end_run()
        if record.process is not None:
            await _delete(record.process)
        self.finish(record, 126)

    def _process_spec(self, live: LiveContainer, config: dict[str, Any]) -> dict[str, Any]:
        base = live.lcd.record.spec.get("process", {}) if live.lcd is not None else {}
        env = list(base.get("env", []))
        for entry in config.get("Env") or []:
            key = entry.split("=", 1)[0]
            env = [e for e in env if e.split("=", 1)[0] != key] + [entry]
        spec = dict(base)
        spec.update(
            {
                "args": list(config.get("Cmd") or []),
                "env": env,
                "cwd": config.get("WorkingDir") or base.get("cwd", "/"),
                "terminal": bool(config.get("Tty")),
            }
        )
        if config.get("User"):
            # Resolved in the running container's own filesystem, as the process will see it.
            reader = oci.rootfs_reader(f"/proc/{live.model.state.pid}/root")
            group_add = live.model.host_config.get("GroupAdd") or []
            spec["user"] = resolve_user(str(config["User"]), group_add, reader)
        if config.get("Privileged"):
            everything = self._capabilities
            spec["capabilities"] = {
                kind: list(everything) for kind in ("bounding", "effective", "permitted")
            }
        spec.pop("consoleSize", None)
        console = config.get("ConsoleSize")  # API 1.42: the terminal's size from the start
        if config.get("Tty") and isinstance(console, list) and len(console) == 2:
            height, width = console
            if isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0:
                spec["consoleSize"] = {"height": height, "width": width}
        return spec

    async def exited(self, live: LiveContainer, info: EventInfo) -> None:
        record = live.execs.get(info.process_id)
        if record is None or record.process is None:
            return
        # As in dockerd, the exit is recorded (and an attached client's stream ended) once
        # the output is drained, before Tasks.DeleteProcess, whose round trip is kept off
        # `docker exec`'s path. Output still open at the exit is drained beside the delete,
        # which ends it if a child of the process holds it (the shim then closes its ends).
        deleting = None
        if record.hub.running:
            deleting = asyncio.ensure_future(_delete_started(record, record.process))
            try:
                await record.hub.drain()
            except BaseException:  # cancelled: the daemon is stopping
                deleting.cancel()
                await asyncio.wait([deleting])
                raise
        self.finish(record, info.exit_code)
        self._host.container_event(live, "exec_die", execID=record.id, exitCode=str(info.exit_code))
        if deleting is None:
            # A task, so that it starts after the attached stream's handler, which the
            # finish has just woken (api/routes/exec.py), has ended the stream.
            deleting = asyncio.ensure_future(_delete_started(record, record.process))
        # The exit's handling, so the container's next events, waits for the delete.
        await deleting

    def finish(self, record: ExecRecord, exit_code: int) -> None:
        if record.exited.is_set():
            return
        record.running = False
        record.exit_code = exit_code
        record.exited.set()

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        record = self.get(exec_id)
        if record.process is None or not record.running:
            raise errors.Conflict(f"Exec {exec_id} is not running")
        await record.process.resize(width, height)


async def _delete(process: Process) -> None:
    """Tasks.DeleteProcess of an exec that exited; gone already is as good."""
    with contextlib.suppress(lcd_errors.LibcontainerdError):
        await process.delete()


async def _delete_started(record: ExecRecord, process: Process) -> None:
    """`_delete`, once Tasks.Start has answered. A process that exits at once can have its
    exit event here before its start's reply: containerd's Start asks the shim for the
    process's state after starting it, and a DeleteProcess that came first makes that
    fail (`process does not exist`), so a start that worked would be reported failed."""
    if record.pid == 0:
        if record.start_answered is None:
            record.start_answered = asyncio.get_running_loop().create_future()
        await asyncio.shield(record.start_answered)
    await _delete(process)


async def _settled(live: LiveContainer) -> None:
    """Wait for a change made under the container's lock (a start, an exit's handling, a
    connect) to be over. dockerd checks a container for an exec under its container lock,
    so its answer is about what that change decided: an exit being handled, for one, is
    then its restart policy's `is restarting`, not a task already gone (`is not running`).
    Free when nothing holds the lock."""
    if live.lock.locked():
        async with live.lock:
            pass


def _restarting(live: LiveContainer) -> errors.Conflict:
    return errors.Conflict(
        f"Container {live.id} is restarting, wait until the container is running"
    )


def _command(config: dict[str, Any]) -> str:
    # dockerd's words: the entrypoint, a space, then the arguments (so "true " alone).
    cmd = [str(arg) for arg in config.get("Cmd") or []]
    return f"{cmd[0]} {' '.join(cmd[1:])}" if cmd else ""
