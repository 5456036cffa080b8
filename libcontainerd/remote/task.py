"""A container's task (its init process), kept for the task's whole life."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import ConflictError, UnknownError
from ..fifo import FifoSet, create_fifos
from ..flag import Flag
from ..types import ExitStatus, Metrics, ProcessInfo, StdioSpec, TaskStatus
from . import anycodec
from .gen.containerd.linux.runc import ProcessDetails as RuncV1ProcessDetails
from .gen.containerd.runc.v1 import ProcessDetails as RuncV2ProcessDetails
from .gen.containerd.services.tasks.v1 import (
    DeleteTaskRequest,
    ExecProcessRequest,
    ListPidsRequest,
    MetricsRequest,
    PauseTaskRequest,
    ResumeTaskRequest,
    UpdateTaskRequest,
)
from .process import RemoteProcess
from .rpc import Connection, call


class RemoteTask(RemoteProcess):
    def __init__(
        self,
        conn: Connection,
        container_id: str,
        stdio: FifoSet,
        fifo_dir: str,
        pid: int = 0,
        status: TaskStatus = TaskStatus.CREATED,
    ) -> None:
        # The init process is addressed by an empty exec id in every Tasks RPC.
        super().__init__(conn, container_id, "", stdio, pid)
        self._fifo_dir = fifo_dir
        self._stopped = Flag()
        self._status = status
        self.status = status
        self.deleted = False  # by Tasks.Delete: containerd no longer has it
        self.processes: dict[str, RemoteProcess] = {}
        # From the exit event, for whoever asks before Tasks.Delete reports it again.
        self.exit_code = 0
        self.exited_at: datetime | None = None

    @property
    def status(self) -> TaskStatus:
        return self._status

    @status.setter
    def status(self, value: TaskStatus) -> None:
        self._status = value
        if value is TaskStatus.STOPPED:
            self._stopped.set()
        else:
            self._stopped.clear()

    def exited(self, exit_code: int, exited_at: datetime | None) -> None:
        self.exit_code, self.exited_at = exit_code, exited_at
        self.status = TaskStatus.STOPPED

    async def wait_stopped(self, timeout: float) -> None:
        """Until the task's exit is known (its event, or a reconcile after a gap)."""
        async with asyncio.timeout(timeout):
            await self._stopped.wait()

    @property
    def id(self) -> str:
        return self.container_id

    async def start(self) -> int:
        pid = await super().start()
        # A process that exits at once may have its exit event in before this reply.
        if self.status is not TaskStatus.STOPPED:
            self.status = TaskStatus.RUNNING
        return pid

    async def pause(self) -> None:
        await call(
            self._conn.stubs.tasks.pause(PauseTaskRequest(container_id=self.container_id)),
            self.container_id,
        )
        self.status = TaskStatus.PAUSED

    async def resume(self) -> None:
        await call(
            self._conn.stubs.tasks.resume(ResumeTaskRequest(container_id=self.container_id)),
            self.container_id,
        )
        self.status = TaskStatus.RUNNING

    async def exec(
        self, exec_id: str, process_spec: Mapping[str, Any], stdio: StdioSpec
    ) -> RemoteProcess:
        fifos = create_fifos(self._fifo_dir, exec_id, stdio, exec_process=True)
        try:
            await call(
                self._conn.stubs.tasks.exec(
                    ExecProcessRequest(
                        container_id=self.container_id,
                        exec_id=exec_id,
                        stdin=fifos.paths.stdin,
                        stdout=fifos.paths.stdout,
                        stderr=fifos.paths.stderr,
                        terminal=fifos.paths.terminal,
                        spec=anycodec.pack_json(anycodec.OCI_PROCESS_TYPE, process_spec),
                    )
                ),
                self.container_id,
            )
        except BaseException:
            fifos.remove()
            raise
        process = RemoteProcess(
            self._conn, self.container_id, exec_id, fifos, listed_in=self.processes
        )
        self.processes[exec_id] = process
        return process

    async def stats(self) -> Metrics:
        # Imported at the first stats, not at start (a fortieth of it): anycodec decodes
        # only the types whose generated module is imported, so before the unpack below.
        from .gen.io.containerd.cgroups.v1 import Metrics as CgroupV1Metrics
        from .gen.io.containerd.cgroups.v2 import Metrics as CgroupV2Metrics

        resp = await call(
            self._conn.stubs.tasks.metrics(MetricsRequest(filters=[f"id=={self.container_id}"])),
            self.container_id,
        )
        for metric in resp.metrics:
            data = anycodec.unpack(metric.data)
            if isinstance(data, CgroupV1Metrics | CgroupV2Metrics):
                version = 1 if isinstance(data, CgroupV1Metrics) else 2
                return Metrics(metric.timestamp or datetime.now(UTC), version, data)
        raise UnknownError(f"no metrics for task {self.container_id}", self.container_id)

    async def pids(self) -> list[ProcessInfo]:
        resp = await call(
            self._conn.stubs.tasks.list_pids(ListPidsRequest(container_id=self.container_id)),
            self.container_id,
        )
        result = []
        for info in resp.processes:
            details = anycodec.unpack(info.info)
            exec_id = ""
            if isinstance(details, RuncV1ProcessDetails | RuncV2ProcessDetails):
                exec_id = details.exec_id
            result.append(ProcessInfo(info.pid, exec_id))
        return result

    async def update(self, resources: Mapping[str, Any]) -> None:
        await call(
            self._conn.stubs.tasks.update(
                UpdateTaskRequest(
                    container_id=self.container_id,
                    resources=anycodec.pack_json(anycodec.OCI_RESOURCES_TYPE, resources),
                )
            ),
            self.container_id,
        )

    async def delete(self) -> ExitStatus:
        try:
            resp = await call(
                self._conn.stubs.tasks.delete(DeleteTaskRequest(container_id=self.container_id)),
                self.container_id,
            )
        except (ConflictError, UnknownError):
            # containerd refuses to delete a process that still runs: whatever said it
            # stopped was wrong.
            if self.status is TaskStatus.STOPPED:
                self.status = TaskStatus.RUNNING
            raise
        self.status = TaskStatus.STOPPED
        self.deleted = True
        self._stdio.unlink()
        return ExitStatus(resp.exit_status, resp.exited_at, resp.pid)
