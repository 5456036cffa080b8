"""A container's task: its init process, created by `runc create` under a monitor."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import ConflictError, NotFoundError
from ..fifo import FifoSet, create_fifos
from ..types import ExitStatus, Metrics, ProcessInfo, StdioSpec, TaskStatus
from .cgroups import Cgroup, OomWatch, is_v2
from .process import LocalExec, LocalProcess
from .rootfs import unmount_rootfs
from .runtime import Runtime

log = logging.getLogger(__name__)

_STATUS = {
    "created": TaskStatus.CREATED,
    "running": TaskStatus.RUNNING,
    "paused": TaskStatus.PAUSED,
    "pausing": TaskStatus.PAUSING,
    "stopped": TaskStatus.STOPPED,
}


def runtime_status(state: Mapping[str, Any] | None) -> TaskStatus:
    if state is None:
        return TaskStatus.STOPPED
    return _STATUS.get(str(state.get("status")), TaskStatus.UNKNOWN)


class LocalTask(LocalProcess):
    def __init__(
        self,
        runtime: Runtime,
        container_id: str,
        stdio: FifoSet,
        bundle: Path,
        fifo_dir: str,
        on_event: Callable[[LocalProcess, str], None],
        cgroup: Cgroup | None,
    ) -> None:
        super().__init__(runtime, container_id, "", stdio, bundle / "proc" / "init", on_event)
        self.bundle = bundle
        self._fifo_dir = fifo_dir
        self._cgroup = cgroup
        self._oom: OomWatch | None = None
        self._status = TaskStatus.CREATED
        self.deleted = False
        self.processes: dict[str, LocalProcess] = {}
        self._starting = False
        self._exit_held = False

    # -- status ------------------------------------------------------------------------

    @property
    def status(self) -> TaskStatus:
        return TaskStatus.STOPPED if self.exit is not None else self._status

    @status.setter
    def status(self, value: TaskStatus) -> None:
        self._status = value

    @property
    def exit_code(self) -> int:
        return self.exit.exit_code if self.exit is not None else 0

    @property
    def exited_at(self) -> datetime | None:
        return self.exit.exited_at if self.exit is not None else None

    def watch_oom(self, on_oom: Callable[[], None]) -> None:
        """OOM kills of its memory cgroup (v1), from the cgroup's own notification."""
        if self._cgroup is None or is_v2():
            return
        try:
            self._oom = OomWatch(self._cgroup, on_oom)
        except OSError as exc:
            log.warning("task %s: cannot watch for OOM: %s", self.container_id[:12], exc)

    def check_oom(self) -> None:
        """Report an OOM kill the count shows but the notification has not yet (before
        the exit is reported)."""
        if self._oom is not None:
            self._oom.check()

    def close_watch(self) -> None:
        super().close_watch()
        if self._oom is not None:
            self._oom.close()
            self._oom = None

    # -- the Protocol ------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.container_id

    async def start(self) -> int:
        # A process that exits at once may have its exit in before this reply: it is
        # reported after the start, in that order, as containerd's events are.
        self._starting = True
        try:
            await self._runtime.run("start", self.container_id, container_id=self.container_id)
            if self.exit is None:
                self._status = TaskStatus.RUNNING
            self._on_event(self, "started")
        finally:
            self._starting = False
            if self._exit_held:
                self._exit_held = False
                super().report_exit()
        return self.pid

    def report_exit(self) -> None:
        if self._starting:
            self._exit_held = True
        else:
            super().report_exit()

    async def pause(self) -> None:
        await self._runtime.run("pause", self.container_id, container_id=self.container_id)
        self._status = TaskStatus.PAUSED
        self._on_event(self, "paused")

    async def resume(self) -> None:
        await self._runtime.run("resume", self.container_id, container_id=self.container_id)
        self._status = TaskStatus.RUNNING
        self._on_event(self, "resumed")

    async def exec(
        self, exec_id: str, process_spec: Mapping[str, Any], stdio: StdioSpec
    ) -> LocalProcess:
        if exec_id in self.processes:
            raise ConflictError(f"exec {exec_id} already exists", self.container_id)
        fifos = create_fifos(self._fifo_dir, exec_id, stdio, exec_process=True)
        process = LocalExec(
            self._runtime,
            self.container_id,
            exec_id,
            fifos,
            self.bundle / "proc" / f"exec-{exec_id}",
            self._on_event,
            process_spec,
            self.bundle,
            listed_in=self.processes,
        )
        self.processes[exec_id] = process
        self._on_event(process, "added")
        return process

    async def stats(self) -> Metrics:
        if self._cgroup is None or is_v2():
            raise NotFoundError(f"no cgroup v1 metrics for {self.container_id}", self.container_id)
        return self._cgroup.sample()

    async def pids(self) -> list[ProcessInfo]:
        out = await self._runtime.run(
            "ps", "--format", "json", self.container_id, container_id=self.container_id
        )
        execs = {p.pid: exec_id for exec_id, p in self.processes.items()}
        return [ProcessInfo(pid, execs.get(pid, "")) for pid in json.loads(out) or []]

    async def update(self, resources: Mapping[str, Any]) -> None:
        await self._runtime.run(
            "update",
            "--resources",
            "-",
            self.container_id,
            container_id=self.container_id,
            stdin=json.dumps(resources).encode(),
        )

    async def delete(self) -> ExitStatus:
        if self.exit is None:
            raise ConflictError(f"task {self.container_id} is still running", self.container_id)
        with contextlib.suppress(NotFoundError):
            await self._runtime.run(
                "delete", "--force", self.container_id, container_id=self.container_id
            )
        self.close_watch()
        await unmount_rootfs(self.bundle / "rootfs")
        self.deleted = True
        self._stdio.unlink()
        shutil.rmtree(self.bundle / "proc", ignore_errors=True)
        self._on_event(self, "deleted")
        return self.exit
