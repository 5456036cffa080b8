"""A container of the local backend: its record, bundle and task."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import specs
from ..errors import LibcontainerdError, NotFoundError
from ..fifo import FifoPaths, FifoSet, create_fifos, open_fifos, remove_fifo_dir
from ..types import (
    INIT_PROCESS_ID,
    ContainerRecord,
    ExitStatus,
    Mount,
    StdioSpec,
    TaskInfo,
    TaskStatus,
)
from .cgroups import Cgroup
from .monitor import read_config
from .rootfs import mount_rootfs, unmount_rootfs
from .runtime import MONITOR_CONFIG
from .task import LocalTask

if TYPE_CHECKING:
    from .client import LocalClient

log = logging.getLogger(__name__)

# How long deleting a container waits for the exit of the task it killed first.
TASK_KILL_TIMEOUT = 10.0


class FoundTask:
    """A task found on disk at restore: its status, and how to follow it again."""

    def __init__(
        self,
        info: TaskInfo,
        monitor: tuple[int, int | None] | None,
        exit_status: ExitStatus | None,
    ) -> None:
        self.info = info
        self.monitor = monitor
        self.exit_status = exit_status


class LocalContainer:
    def __init__(
        self,
        client: LocalClient,
        record: ContainerRecord,
        found_task: FoundTask | None = None,
    ) -> None:
        self._client = client
        self._record = record
        self._task: LocalTask | None = None
        self._found = found_task

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def record(self) -> ContainerRecord:
        return self._record

    @property
    def bundle(self) -> Path:
        return self._client.bundle_root / self.id

    @property
    def fifo_dir(self) -> str:
        return os.path.join(self._client.fifo_root, self.id)  # str: per task (issue 13)

    def task(self) -> LocalTask | None:
        task = self._task
        return task if task is not None and not task.deleted else None

    @property
    def found_task(self) -> TaskInfo | None:
        return self._found.info if self._found is not None else None

    async def probe_task(self) -> TaskInfo | None:
        task = self.task()
        if task is not None:
            return TaskInfo(self.id, task.pid, task.status, task.exit_code, task.exited_at)
        return self.found_task

    def _cgroup(self) -> Cgroup | None:
        path = (self._record.spec.get("linux") or {}).get("cgroupsPath") or ""
        return Cgroup(path) if path else None

    def _new_task(self, stdio: FifoSet) -> LocalTask:
        return LocalTask(
            self._client.runtime_for(self._record.runtime),
            self.id,
            stdio,
            self.bundle,
            self.fifo_dir,
            self._client.process_event,
            self._cgroup(),
        )

    async def rootfs_mounts(self) -> list[Mount]:
        if not self._record.snapshot_key:
            return []
        return self._client.snapshotter(self._record.snapshotter).mounts(self._record.snapshot_key)

    async def new_task(self, stdio: StdioSpec) -> LocalTask:
        if self.task() is not None:
            raise LibcontainerdError(f"task {self.id}: already exists", self.id)
        bundle = self.bundle
        bundle.mkdir(parents=True, exist_ok=True, mode=0o711)
        (bundle / "config.json").write_text(json.dumps(self._record.spec))
        fifos = create_fifos(self.fifo_dir, INIT_PROCESS_ID, stdio)
        task = self._new_task(fifos)
        try:
            mounts = await self.rootfs_mounts()
            # One mount (what the local snapshotter gives) is the monitor's to make;
            # anything else is mounted here first.
            inline = mounts[0] if len(mounts) == 1 else None
            if inline is None:
                await mount_rootfs(mounts, bundle / "rootfs")
            await task.launch("create", bundle, inline)
        except BaseException:
            fifos.remove()
            with contextlib.suppress(Exception):
                await unmount_rootfs(bundle / "rootfs")
            shutil.rmtree(bundle / "proc", ignore_errors=True)
            raise
        self._task = task
        self._client.track_task(task)
        task.watch_oom(lambda: self._client.oom(task))
        self._client.process_event(task, "created")
        return task

    async def attach_task(self) -> LocalTask | None:
        """The task found at restore, followed again: its FIFOs re-opened, its monitor
        watched (no event for an exit found on disk: restore reported it)."""
        found, self._found = self._found, None
        if found is None:
            return self.task()
        directory = self.bundle / "proc" / "init"
        try:
            config = read_config(str(directory / MONITOR_CONFIG))
            paths = FifoPaths(
                config["stdin"], config["stdout"], config["stderr"], config["terminal"] == "1"
            )
        except (OSError, ValueError, KeyError):
            paths = FifoPaths()
        try:
            stdio = open_fifos(paths)
        except OSError as exc:
            log.warning("task %s: cannot re-open its stdio: %s", self.id[:12], exc)
            stdio = FifoSet(paths, None, None, None)
        task = self._new_task(stdio)
        task.status = found.info.status
        self._task = task
        self._client.track_task(task)
        if found.exit_status is not None:
            task.found_exited(found.exit_status)
        elif found.monitor is not None:
            task.watch_oom(lambda: self._client.oom(task))
            task.watch(found.info.pid, *found.monitor)
        else:
            task.found_exited(task.read_exit())
        return task

    async def update_spec(self, spec: Mapping[str, Any]) -> None:
        self._record.spec = dict(spec)
        self._record.spec_digest = specs.digest_of(spec)
        self._client.save_record(self._record)

    async def delete_task(self) -> None:
        unread = self._found is not None
        if unread:
            await self.attach_task()
        task = self.task()
        if task is None:
            return
        try:
            if task.exit is None:
                with contextlib.suppress(NotFoundError):
                    await task.kill(signal.SIGKILL)
                if task.status is TaskStatus.PAUSED:
                    # A frozen process dies only once thawed.
                    with contextlib.suppress(LibcontainerdError):
                        await task.resume()
                with contextlib.suppress(TimeoutError):
                    await task.wait_exited(TASK_KILL_TIMEOUT)
            if task.exit is not None:
                await task.delete()
        finally:
            if unread:
                task.stdio.close()

    async def delete(self) -> None:
        await self.delete_task()
        self._client.remove_record(self.id)
        if self._record.snapshot_key:
            with contextlib.suppress(NotFoundError):
                self._client.snapshotter(self._record.snapshotter).remove(self._record.snapshot_key)
        self._client.forget(self.id)
        if self._task is not None:
            self._task.stdio.close()
        await remove_bundle(self.bundle)
        remove_fifo_dir(self.fifo_dir)


async def remove_bundle(bundle: Path) -> None:
    """Removes a bundle, never through a rootfs that is still mounted."""
    await unmount_rootfs(bundle / "rootfs")
    shutil.rmtree(bundle, ignore_errors=True)
