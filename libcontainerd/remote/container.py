"""A containerd container record, kept by the daemon with its task."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import specs
from ..errors import LibcontainerdError, NotFoundError
from ..fifo import FifoPaths, FifoSet, create_fifos, open_fifos, remove_fifo_dir
from ..types import INIT_PROCESS_ID, ContainerRecord, Mount, StdioSpec, TaskInfo, TaskStatus
from . import anycodec, runtime_options
from .gen.containerd.services.containers.v1 import (
    Container as ContainerMessage,
)
from .gen.containerd.services.containers.v1 import (
    DeleteContainerRequest,
    UpdateContainerRequest,
)
from .gen.containerd.services.snapshots.v1 import MountsRequest, RemoveSnapshotRequest
from .gen.containerd.services.tasks.v1 import CreateTaskRequest, GetRequest
from .gen.containerd.types import Mount as MountMessage
from .gen.containerd.v1.types import Process as ProcessMessage
from .gen.google.protobuf import FieldMask
from .rpc import Connection, call
from .task import RemoteTask

if TYPE_CHECKING:
    from .client import RemoteClient

log = logging.getLogger(__name__)

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


# How long deleting a container waits for the exit of the task it killed first.
TASK_KILL_TIMEOUT = 10.0


def task_status(value: int) -> TaskStatus:
    return _STATUS.get(int(value), TaskStatus.UNKNOWN)


def task_info(message: ProcessMessage, container_id: str = "") -> TaskInfo:
    return TaskInfo(
        container_id or message.id or message.container_id,
        message.pid,
        task_status(message.status),
        message.exit_status,
        message.exited_at,
    )


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
    def fifo_dir(self) -> str:
        return os.path.join(self._client.fifo_root, self.id)  # str: per task (issue 13)

    def task(self) -> RemoteTask | None:
        """The task containerd has for this container, as far as this client knows."""
        task = self._task
        return task if task is not None and not task.deleted else None

    @property
    def found_task(self) -> TaskInfo | None:
        """The task containerd listed at restore time, before `attach_task`."""
        return task_info(self._found_task) if self._found_task is not None else None

    async def probe_task(self) -> TaskInfo | None:
        """Tasks.Get, for when a listing's silence is not proof: containerd leaves out of
        Tasks.List a task whose shim is slow to report its state (2 s, under load)."""
        task = self.task()
        if task is not None:
            return TaskInfo(self.id, task.pid, task.status, task.exit_code, task.exited_at)
        try:
            resp = await call(self._conn.stubs.tasks.get(GetRequest(container_id=self.id)), self.id)
        except NotFoundError:
            return None
        if resp.process is None:
            return None
        self._found_task = resp.process
        return task_info(resp.process, self.id)

    def found(self, task: ProcessMessage) -> None:
        """A task listed for a container that holds none (made while containerd was away)."""
        if self.task() is None:
            self._found_task = task

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
        try:
            stdio = open_fifos(paths)
        except OSError as exc:
            # Its FIFOs are gone (e.g. the exec root was cleaned): the task can still be
            # killed and deleted, its output is lost.
            log.warning("task %s: cannot re-open its stdio: %s", self.id[:12], exc)
            stdio = FifoSet(paths, None, None, None)
        self._task = RemoteTask(
            self._conn,
            self.id,
            stdio,
            self.fifo_dir,
            found.pid,
            task_status(found.status),
        )
        self._client.track_task(self._task)
        return self._task

    async def update_spec(self, spec: Mapping[str, Any]) -> None:
        packed = anycodec.pack_json(anycodec.OCI_SPEC_TYPE, spec)
        message = ContainerMessage(id=self.id, spec=packed)
        await call(
            self._conn.stubs.containers.update(
                UpdateContainerRequest(container=message, update_mask=FieldMask(paths=["spec"]))
            ),
            self.id,
        )
        self._record.spec = specs.kept(spec)
        self._record.spec_digest = specs.digest(packed.value)

    async def delete_task(self) -> None:
        """Kill and delete the task containerd still has, if any, whatever it is doing.

        Decided from what this client knows (the task it made or found at restore, and
        the exit events since): no Get. Costs nothing when the task was deleted at its exit;
        a Kill and a Delete when it still runs.
        """
        # A task re-attached only to be deleted has no reader: its FIFOs are closed here.
        unread = self._found_task is not None
        if unread:
            await self.attach_task()
        task = self.task()
        if task is None:
            return
        try:
            await self._kill_and_delete(task)
        finally:
            if unread:
                task.stdio.close()

    async def _kill_and_delete(self, task: RemoteTask) -> None:
        if task.status is TaskStatus.CREATED:
            # Never seen to start: a failed start has usually left it stopped already.
            try:
                await task.delete()
                return
            except NotFoundError:
                return
            except LibcontainerdError:
                pass
        if task.status is not TaskStatus.STOPPED:
            try:
                await task.kill(signal.SIGKILL)
            except NotFoundError:
                pass
            else:
                with contextlib.suppress(TimeoutError):
                    await task.wait_stopped(TASK_KILL_TIMEOUT)
        with contextlib.suppress(NotFoundError):
            await task.delete()

    async def delete(self) -> None:
        """Delete the container with its snapshot, after its task: never orphan a task."""
        await self.delete_task()
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
