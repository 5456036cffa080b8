"""A containerd container record, kept by the daemon with its task."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fifo import FifoPaths, create_fifos, open_fifos, remove_fifo_dir
from ..types import INIT_PROCESS_ID, ContainerRecord, Mount, StdioSpec, TaskStatus
from . import anycodec, runtime_options
from .gen.containerd.services.containers.v1 import (
    Container as ContainerMessage,
)
from .gen.containerd.services.containers.v1 import (
    DeleteContainerRequest,
    UpdateContainerRequest,
)
from .gen.containerd.services.snapshots.v1 import MountsRequest, RemoveSnapshotRequest
from .gen.containerd.services.tasks.v1 import CreateTaskRequest
from .gen.containerd.types import Mount as MountMessage
from .gen.containerd.v1.types import Process as ProcessMessage
from .gen.google.protobuf import FieldMask
from .rpc import Connection, call
from .task import RemoteTask

if TYPE_CHECKING:
    from .client import RemoteClient

_STATUS = {
    0: TaskStatus.UNKNOWN,
    1: TaskStatus.CREATED,
    2: TaskStatus.RUNNING,
    3: TaskStatus.STOPPED,
    4: TaskStatus.PAUSED,
    5: TaskStatus.PAUSING,
}


def to_mount(message: MountMessage) -> Mount:
    return Mount(message.type, message.source, tuple(message.options), message.target)


def task_status(value: int) -> TaskStatus:
    return _STATUS.get(int(value), TaskStatus.UNKNOWN)


class RemoteContainer:
    def __init__(
        self,
        client: RemoteClient,
        record: ContainerRecord,
        mounts: list[MountMessage] | None = None,
        found_task: ProcessMessage | None = None,
    ) -> None:
        self._client = client
        self._conn: Connection = client.conn
        self._record = record
        # Kept from Snapshots.Prepare so that creating a task needs no Snapshots.Mounts.
        self._mounts = mounts
        self._task: RemoteTask | None = None
        self._found_task = found_task

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def record(self) -> ContainerRecord:
        return self._record

    @property
    def fifo_dir(self) -> Path:
        return self._client.fifo_root / self.id

    def task(self) -> RemoteTask | None:
        return self._task

    @property
    def found_task(self) -> ProcessMessage | None:
        """The task containerd reported at restore time, before `attach_task`."""
        return self._found_task

    async def _rootfs(self) -> list[MountMessage]:
        if self._mounts is None:
            if not self._record.snapshot_key:
                return []
            resp = await call(
                self._conn.stubs.snapshots.mounts(
                    MountsRequest(
                        snapshotter=self._record.snapshotter, key=self._record.snapshot_key
                    )
                ),
                self.id,
            )
            self._mounts = list(resp.mounts)
        return self._mounts

    async def rootfs_mounts(self) -> list[Mount]:
        """The rootfs mounts: kept from Prepare, or one Snapshots.Mounts after a restart."""
        return [to_mount(m) for m in await self._rootfs()]

    async def new_task(self, stdio: StdioSpec) -> RemoteTask:
        rootfs = await self._rootfs()
        fifos = create_fifos(self.fifo_dir, INIT_PROCESS_ID, stdio)
        try:
            resp = await call(
                self._conn.stubs.tasks.create(
                    CreateTaskRequest(
                        container_id=self.id,
                        rootfs=rootfs,
                        stdin=fifos.paths.stdin,
                        stdout=fifos.paths.stdout,
                        stderr=fifos.paths.stderr,
                        terminal=fifos.paths.terminal,
                        options=runtime_options.task_options(self._record.runtime),
                    )
                ),
                self.id,
            )
        except BaseException:
            fifos.remove()
            raise
        self._task = RemoteTask(self._conn, self.id, fifos, self.fifo_dir, resp.pid)
        self._client.track_task(self._task)
        return self._task

    async def attach_task(self) -> RemoteTask | None:
        """Re-open the stdio of the task found at restore (no RPC: restore listed it)."""
        found, self._found_task = self._found_task, None
        if found is None:
            return self._task
        paths = FifoPaths(found.stdin, found.stdout, found.stderr, found.terminal)
        self._task = RemoteTask(
            self._conn,
            self.id,
            open_fifos(paths),
            self.fifo_dir,
            found.pid,
            task_status(found.status),
        )
        self._client.track_task(self._task)
        return self._task

    async def update_spec(self, spec: Mapping[str, Any]) -> None:
        message = ContainerMessage(
            id=self.id, spec=anycodec.pack_json(anycodec.OCI_SPEC_TYPE, spec)
        )
        await call(
            self._conn.stubs.containers.update(
                UpdateContainerRequest(container=message, update_mask=FieldMask(paths=["spec"]))
            ),
            self.id,
        )
        self._record.spec = dict(spec)

    async def delete(self) -> None:
        await call(self._conn.stubs.containers.delete(DeleteContainerRequest(id=self.id)), self.id)
        if self._record.snapshot_key:
            await call(
                self._conn.stubs.snapshots.remove(
                    RemoveSnapshotRequest(
                        snapshotter=self._record.snapshotter, key=self._record.snapshot_key
                    )
                ),
                self.id,
            )
        self._client.forget(self.id)
        # Whatever its task's reader left open cannot be read any more.
        if self._task is not None:
            self._task.stdio.close()
        remove_fifo_dir(self.fifo_dir)
