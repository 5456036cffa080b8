"""The libcontainerd client without containerd: runc driven directly (see DESIGN.md,
"The local backend"). One per daemon, like RemoteClient, behind the same Protocols."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .. import specs
from ..dispatch import Dispatcher
from ..errors import AlreadyExistsError, NotFoundError, UnavailableError
from ..types import (
    DEFAULT_SNAPSHOTTER,
    Backend,
    ContainerRecord,
    EventInfo,
    EventType,
    Inventory,
    Mount,
    RuntimeSpec,
    SnapshotSpec,
    SpecFactory,
    TaskInfo,
    TaskStatus,
)
from .container import FoundTask, LocalContainer, remove_bundle
from .content import LocalContentStore
from .files import read_json, write_json
from .gc import Collector
from .images import LocalImageStores
from .imagestore import LocalImageStore
from .leases import LocalLeases
from .monitor import read_config
from .process import EXIT_FILE, LocalProcess, read_exit, start_time
from .runtime import DEFAULT_BINARY, MONITOR_CONFIG, Runtime
from .snapshots import Snapshotter
from .task import LocalTask, runtime_status

log = logging.getLogger(__name__)

_EVENTS = {
    "created": EventType.CREATE,
    "added": EventType.EXEC_ADDED,
    "paused": EventType.PAUSED,
    "resumed": EventType.RESUMED,
}


def _record_value(record: ContainerRecord) -> dict[str, Any]:
    runtime = record.runtime
    return {
        "id": record.id,
        "image": record.image,
        "labels": record.labels,
        "runtime": {"shim": runtime.shim, "binary": runtime.binary, "root": runtime.root},
        "snapshotter": record.snapshotter,
        "snapshot_key": record.snapshot_key,
        "spec": record.spec,
    }


def _record(value: Mapping[str, Any]) -> ContainerRecord:
    return ContainerRecord(
        id=value["id"],
        image=value["image"],
        labels=dict(value["labels"]),
        runtime=RuntimeSpec(**value["runtime"]),
        snapshotter=value["snapshotter"],
        snapshot_key=value["snapshot_key"],
        spec=dict(value["spec"]),
        spec_digest=specs.digest_of(value["spec"]),
    )


class LocalClient:
    def __init__(
        self,
        data_root: str | Path,
        state_root: str | Path,
        backend: Backend,
        namespace: str = "local",
        runtime: str = DEFAULT_BINARY,
    ) -> None:
        """`data_root` keeps what outlives a reboot (records, images, snapshots);
        `state_root` what lives while the machine runs (bundles, FIFOs, runc state)."""
        self.data_root = Path(data_root)
        self.state_root = Path(state_root)
        self.bundle_root = self.state_root / "bundles"
        self.fifo_root = self.state_root / "fifo"
        self._records = self.data_root / "containers"
        for directory in (self._records, self.bundle_root, self.fifo_root):
            directory.mkdir(parents=True, exist_ok=True, mode=0o711)
        self._namespace = namespace
        self._binary = runtime
        self._counts: Counter[str] = Counter()
        self._dispatcher = Dispatcher(backend)
        self._containers: dict[str, LocalContainer] = {}
        self._tasks: dict[str, LocalTask] = {}
        self._content = LocalContentStore(self.data_root / "content")
        self._images = LocalImageStore(self.data_root / "images.json")
        self._leases = LocalLeases()
        self._snapshotters: dict[str, Snapshotter] = {}
        collector = Collector(
            self._content,
            self._images,
            lambda: [self.snapshotter(), *self._snapshotters.values()],
            self._leases.held,
        )
        self._images.after_delete = self._leases.after_delete = collector.collect
        self._orphans: dict[str, FoundTask] = {}
        self._version: tuple[str, str] | None = None

    @classmethod
    async def start(
        cls,
        data_root: str | Path,
        state_root: str | Path,
        backend: Backend,
        namespace: str = "local",
        runtime: str = DEFAULT_BINARY,
    ) -> LocalClient:
        if shutil.which(runtime) is None:
            raise UnavailableError(f"the OCI runtime {runtime!r} is not installed")
        client = cls(data_root, state_root, backend, namespace, runtime)
        await client.version()
        return client

    @property
    def namespace(self) -> str:
        return self._namespace

    def rpc_counts(self) -> Mapping[str, int]:
        """The runtime commands run (`runc.create`, ...): the local backend's RPCs."""
        return dict(self._counts)

    async def version(self) -> tuple[str, str]:
        if self._version is None:
            out = await Runtime(self._binary, self.state_root / "runc", Counter()).run("--version")
            version = commit = ""
            for line in out.decode().splitlines():
                key, _, value = line.partition(":")
                if line.startswith(("runc version", "crun version")):
                    version = line.rpartition(" ")[2]
                elif key == "commit":
                    commit = value.strip()
            self._version = (version, commit)
        return self._version

    def runtime_for(self, spec: RuntimeSpec) -> Runtime:
        root = Path(spec.root) if spec.root else self.state_root / "runc"
        return Runtime(spec.binary or self._binary, root, self._counts)

    def snapshotter(self, name: str = DEFAULT_SNAPSHOTTER) -> Snapshotter:
        name = name or DEFAULT_SNAPSHOTTER
        if name not in self._snapshotters:
            self._snapshotters[name] = Snapshotter(self.data_root / "snapshots" / name, name)
        return self._snapshotters[name]

    def image_stores(self, snapshotter: str = DEFAULT_SNAPSHOTTER) -> LocalImageStores:
        return LocalImageStores(
            self._content, self._images, self._leases, self.snapshotter(snapshotter)
        )

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Never called: there is no connection to lose."""

    # -- containers -------------------------------------------------------------------

    def _record_path(self, container_id: str) -> Path:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise NotFoundError(f"invalid container id {container_id!r}", container_id)
        return self._records / f"{container_id}.json"

    def save_record(self, record: ContainerRecord) -> None:
        write_json(self._record_path(record.id), _record_value(record))

    def remove_record(self, container_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._record_path(container_id).unlink()

    async def new_container(
        self,
        container_id: str,
        spec: Mapping[str, Any] | SpecFactory,
        runtime: RuntimeSpec,
        snapshot: SnapshotSpec | None = None,
        image: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> LocalContainer:
        if self._record_path(container_id).exists():
            raise AlreadyExistsError(f"container {container_id}: already exists", container_id)
        mounts: list[Mount] = []
        if snapshot is not None:
            snapshots = self.snapshotter(snapshot.snapshotter)
            if snapshot.exists:
                mounts = snapshots.mounts(snapshot.key)
            else:
                mounts = snapshots.prepare(snapshot.key, snapshot.parent, snapshot.labels)
        try:
            if callable(spec):
                spec = spec(mounts)
            record = ContainerRecord(
                id=container_id,
                image=image,
                labels=dict(labels or {}),
                runtime=runtime,
                snapshotter=snapshot.snapshotter if snapshot else "",
                snapshot_key=snapshot.key if snapshot else "",
                spec=dict(spec),
                spec_digest=specs.digest_of(spec),
            )
            self.save_record(record)
        except BaseException:
            if snapshot is not None and not snapshot.exists:
                with contextlib.suppress(Exception):
                    self.snapshotter(snapshot.snapshotter).remove(snapshot.key)
            raise
        container = LocalContainer(self, record)
        self._containers[container_id] = container
        return container

    async def remove_snapshot(self, key: str, snapshotter: str = DEFAULT_SNAPSHOTTER) -> None:
        with contextlib.suppress(NotFoundError):
            self.snapshotter(snapshotter).remove(key)

    def _bundle_runtime(self, container_id: str) -> RuntimeSpec:
        """The runtime a bundle's task was made with, from its monitor's config (a bundle
        whose record is gone has nothing else to say it)."""
        try:
            config = read_config(
                str(self.bundle_root / container_id / "proc" / "init" / MONITOR_CONFIG)
            )
        except OSError:
            return RuntimeSpec("")
        return RuntimeSpec("", binary=config.get("runtime", ""), root=config.get("root", ""))

    async def _find_task(self, container_id: str, runtime: RuntimeSpec) -> FoundTask | None:
        """The task a bundle holds, from its monitor's files (and `runc state` while it runs)."""
        directory = self.bundle_root / container_id / "proc" / "init"
        if not (directory / MONITOR_CONFIG).exists():
            return None
        try:
            state = read_json(directory / "state.json")
        except (OSError, ValueError):
            state = {"pid": 0, "monitor": 0, "start": None}
        pid = int(state["pid"])
        monitor = int(state["monitor"])
        exited = (directory / EXIT_FILE).exists()
        if not exited and monitor and start_time(monitor) == state["start"]:
            status = runtime_status(await self.runtime_for(runtime).state(container_id))
            if status is not TaskStatus.STOPPED:
                return FoundTask(
                    TaskInfo(container_id, pid, status), (monitor, state["start"]), None
                )
        # Ended (or its monitor died without a word: LOST_EXIT_CODE).
        final = read_exit(directory, pid)
        info = TaskInfo(container_id, pid, TaskStatus.STOPPED, final.exit_code, final.exited_at)
        return FoundTask(info, None, final)

    async def restore(self) -> Inventory[LocalContainer]:
        """Every container record with the task its bundle holds, the tasks of bundles
        without a record (orphans), and every snapshot."""
        self._dispatcher.hold()
        try:
            restored = []
            tasks = []
            named = set()
            for path in sorted(self._records.glob("*.json")):
                try:
                    record = _record(read_json(path))
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    log.warning("container record %s is unreadable: %s", path.name, exc)
                    continue
                named.add(record.id)
                known = self._containers.get(record.id)
                if known is not None:
                    restored.append(known)
                    continue
                found = await self._find_task(record.id, record.runtime)
                if found is not None:
                    tasks.append(found.info)
                container = LocalContainer(self, record, found)
                self._containers[record.id] = container
                restored.append(container)
            self._orphans = {}
            for bundle in sorted(self.bundle_root.iterdir()):
                if bundle.name in named:
                    continue
                found = await self._find_task(bundle.name, self._bundle_runtime(bundle.name))
                if found is None:
                    await remove_bundle(bundle)
                    continue
                self._orphans[bundle.name] = found
                tasks.append(found.info)
            snapshots = self.snapshotter().listing()
            return Inventory(restored, tasks, snapshots)
        finally:
            self._dispatcher.release()

    async def rescue_orphan_task(
        self, task_id: str, labels: Mapping[str, str] | None = None
    ) -> None:
        """Kill and delete a task whose record is gone, and its bundle."""
        found = self._orphans.pop(task_id, None)
        if found is None:
            return
        try:
            spec = read_json(self.bundle_root / task_id / "config.json")
        except (OSError, ValueError):
            spec = {}
        record = ContainerRecord(
            id=task_id, labels=dict(labels or {}), runtime=self._bundle_runtime(task_id), spec=spec
        )
        container = LocalContainer(self, record, found)
        await container.delete_task()
        self.forget(task_id)
        await remove_bundle(self.bundle_root / task_id)

    # -- bookkeeping and events ---------------------------------------------------------

    def track_task(self, task: LocalTask) -> None:
        self._tasks[task.container_id] = task

    def forget(self, container_id: str) -> None:
        self._containers.pop(container_id, None)
        self._tasks.pop(container_id, None)

    def oom(self, task: LocalTask) -> None:
        self._dispatcher.submit(EventType.OOM, EventInfo(task.container_id, pid=task.pid))

    def process_event(self, process: LocalProcess, what: str) -> None:
        """What a process or task reports, as the Backend's event."""
        info = EventInfo(process.container_id, process.process_id, process.pid)
        is_task = isinstance(process, LocalTask)
        if what == "exited":
            if is_task:
                assert isinstance(process, LocalTask)
                process.check_oom()  # an OOM kill is reported before the exit it caused
            status = process.exit
            assert status is not None
            info = EventInfo(
                process.container_id,
                process.process_id,
                process.pid,
                status.exit_code,
                status.exited_at,
            )
            self._dispatcher.submit(EventType.EXIT, info)
        elif what == "started":
            kind = EventType.START if is_task else EventType.EXEC_STARTED
            self._dispatcher.submit(kind, info)
        elif what in _EVENTS:
            self._dispatcher.submit(_EVENTS[what], info)

    async def events_idle(self) -> None:
        await self._dispatcher.idle()

    async def close(self) -> None:
        """Stops following the processes; they and their monitors run on."""
        for task in self._tasks.values():
            task.close_watch()
            for process in task.processes.values():
                process.close_watch()
        await self._dispatcher.close()
