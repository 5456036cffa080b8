"""A process started through a monitor (see monitor.py): an exec, and the base of a task.

Its directory holds `monitor.conf` (what the monitor was told), `state.json` (the
pids, written once the process runs), `control` (the monitor's control FIFO),
`exit` (written by the monitor when the process has exited) and the runtime's
log. The exit is seen through a pidfd of the monitor in the event loop: no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import signal
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConflictError, NotFoundError
from ..fifo import FifoSet
from ..types import INIT_PROCESS_ID, ExitStatus, Mount
from . import monitor
from .files import write_json
from .runtime import Runtime

# The exit code of a process whose monitor died without writing it (as containerd's
# for a task whose shim is gone).
LOST_EXIT_CODE = 255
EXIT_FILE = "exit"


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), to tell it from a recycled pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return int(text.rpartition(")")[2].split()[19])


def read_exit(directory: Path, pid: int) -> ExitStatus:
    """What the monitor wrote at the process's exit; LOST_EXIT_CODE if it wrote nothing."""
    try:
        code, when, found = monitor.read_exit(str(directory / EXIT_FILE))
    except (OSError, ValueError):
        return ExitStatus(LOST_EXIT_CODE, datetime.now(UTC), pid)
    return ExitStatus(code, datetime.fromtimestamp(when, UTC), found or pid)


class ExitWatch:
    """A monitor's pidfd in the event loop: `on_exit` is called once, when it has exited
    (at once if it is gone, or if the pid now names another process)."""

    def __init__(self, pid: int, started: int | None, on_exit: Callable[[], None]) -> None:
        self._on_exit = on_exit
        self._fd: int | None = None
        loop = asyncio.get_running_loop()
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            loop.call_soon(self._fire)
            return
        if started is not None and start_time(pid) != started:
            os.close(fd)
            loop.call_soon(self._fire)
            return
        self._fd = fd
        loop.add_reader(fd, self._fire)

    def _fire(self) -> None:
        self.close()
        callback, self._on_exit = self._on_exit, _nothing
        callback()

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)


def _nothing() -> None:
    pass


class LocalProcess:
    def __init__(
        self,
        runtime: Runtime,
        container_id: str,
        exec_id: str,
        stdio: FifoSet,
        directory: Path,
        on_event: Callable[[LocalProcess, str], None],
        listed_in: dict[str, LocalProcess] | None = None,
    ) -> None:
        self._runtime = runtime
        self.container_id = container_id
        self._exec_id = exec_id
        self._stdio = stdio
        self.directory = directory
        # Told of "started" and "exited" (the client turns them into the Backend's events).
        self._on_event = on_event
        self._pid = 0
        self._pidfd: int | None = None
        self._watch: ExitWatch | None = None
        self.exit: ExitStatus | None = None
        self._exited = asyncio.Event()
        self._listed_in = listed_in

    @property
    def id(self) -> str:
        return self._exec_id

    @property
    def process_id(self) -> str:
        """The id in events: the exec id, or `init` for a task."""
        return self._exec_id or INIT_PROCESS_ID

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def stdio(self) -> FifoSet:
        return self._stdio

    # -- the monitor -------------------------------------------------------------------

    def monitor_config(self, mode: str, bundle: Path) -> dict[str, str]:
        d = self.directory
        paths = self._stdio.paths
        return {
            "mode": mode,
            "id": self.container_id,
            "bundle": str(bundle),
            "dir": str(d),
            "pid_file": str(d / "pid"),
            "log": str(d / "runtime.log"),
            "control": str(d / "control"),
            "exit_file": str(d / EXIT_FILE),
            "process": str(d / "process.json"),
            "stdin": paths.stdin,
            "stdout": paths.stdout,
            "stderr": paths.stderr,
            "terminal": "1" if paths.terminal else "",
        }

    async def launch(self, mode: str, bundle: Path, rootfs: Mount | None = None) -> int:
        """Starts the monitor that creates (or execs) the process, mounting `rootfs` at the
        bundle's rootfs first; the process's pid."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        control = self.directory / "control"
        with contextlib.suppress(FileExistsError):
            os.mkfifo(control, 0o600)
        config = self.monitor_config(mode, bundle)
        if rootfs is not None:
            config["rootfs_type"] = rootfs.type
            config["rootfs_source"] = rootfs.source
            config["rootfs_options"] = ",".join(rootfs.options)
        pid, monitor = await self._runtime.monitor(config, self.directory)
        started = start_time(monitor)
        write_json(
            self.directory / "state.json", {"pid": pid, "monitor": monitor, "start": started}
        )
        self.watch(pid, monitor, started)
        return pid

    def watch(self, pid: int, monitor: int, started: int | None) -> None:
        """Follows the process (just launched, or found after a restart) to its exit."""
        self._pid = pid
        with contextlib.suppress(OSError):
            self._pidfd = os.pidfd_open(pid)
        self._watch = ExitWatch(monitor, started, self._monitor_exited)

    def _monitor_exited(self) -> None:
        self._watch = None
        self.exit = self.read_exit()
        self._close_pidfd()
        self._exited.set()
        self.report_exit()

    def report_exit(self) -> None:
        self._on_event(self, "exited")

    def read_exit(self) -> ExitStatus:
        return read_exit(self.directory, self._pid)

    def found_exited(self, status: ExitStatus) -> None:
        """Its exit was found on disk (after a restart): known, but no event."""
        self._pid = status.pid
        self.exit = status
        self._exited.set()

    def _close_pidfd(self) -> None:
        fd, self._pidfd = self._pidfd, None
        if fd is not None:
            os.close(fd)

    def close_watch(self) -> None:
        """Stop following it (the daemon goes; the monitor and the process go on)."""
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        self._close_pidfd()

    async def wait_exited(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await self._exited.wait()

    def _control(self, line: str) -> None:
        try:
            fd = os.open(self.directory / "control", os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ENOENT):
                return  # the monitor is gone, and the process with it
            raise
        try:
            os.write(fd, line.encode() + b"\n")
        finally:
            os.close(fd)

    # -- the Protocol ------------------------------------------------------------------

    async def start(self) -> int:
        raise NotImplementedError  # LocalExec and LocalTask start differently

    async def kill(self, sig: int) -> None:
        if self.exit is not None or self._pidfd is None:
            raise NotFoundError(
                f"process {self.process_id} of {self.container_id}: not running",
                self.container_id,
            )
        try:
            signal.pidfd_send_signal(self._pidfd, sig)
        except ProcessLookupError:
            raise NotFoundError(
                f"process {self.process_id} of {self.container_id}: not running",
                self.container_id,
            ) from None

    async def resize(self, width: int, height: int) -> None:
        self._control(f"resize {int(width)} {int(height)}")

    async def close_stdin(self) -> None:
        # The monitor keeps a write end of the stdin FIFO (as a shim does): it is told to
        # close it too, so that the process sees the end of its input.
        if self._stdio.stdin is not None:
            self._stdio.stdin.close()
        self._control("close-stdin")

    def _forget(self) -> None:
        if self._listed_in is not None:
            self._listed_in.pop(self._exec_id, None)

    async def delete(self) -> ExitStatus:
        if self.exit is None:
            raise ConflictError(
                f"process {self.process_id} of {self.container_id} is still running",
                self.container_id,
            )
        self._forget()
        self._stdio.unlink()
        shutil.rmtree(self.directory, ignore_errors=True)
        return self.exit


class LocalExec(LocalProcess):
    """An exec'd process: `runc exec --detach --pid-file` under its own monitor."""

    def __init__(
        self,
        runtime: Runtime,
        container_id: str,
        exec_id: str,
        stdio: FifoSet,
        directory: Path,
        on_event: Callable[[LocalProcess, str], None],
        spec: Mapping[str, Any],
        bundle: Path,
        listed_in: dict[str, LocalProcess] | None = None,
    ) -> None:
        super().__init__(runtime, container_id, exec_id, stdio, directory, on_event, listed_in)
        self._spec = spec
        self._bundle = bundle

    async def start(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        spec = {**self._spec, "terminal": self._stdio.terminal}
        (self.directory / "process.json").write_text(json.dumps(spec))
        try:
            pid = await self.launch("exec", self._bundle)
        except BaseException:
            # Never ran: deleting it must still work (and report no exit of its own).
            self.found_exited(ExitStatus(LOST_EXIT_CODE, datetime.now(UTC)))
            raise
        self._on_event(self, "started")
        return pid
