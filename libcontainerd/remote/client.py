"""The libcontainerd client for a real containerd: one per daemon."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from .. import specs
from ..dispatch import Dispatcher
from ..errors import NotFoundError
from ..types import (
    DEFAULT_SNAPSHOTTER,
    INIT_PROCESS_ID,
    Backend,
    ContainerRecord,
    EventInfo,
    EventType,
    Inventory,
    RuntimeSpec,
    SnapshotSpec,
    SpecFactory,
    TaskStatus,
)
from . import anycodec, runtime_options
from .container import RemoteContainer, task_info, task_status, to_mount
from .event_decode import decode, topics_of
from .gen.containerd.services.containers.v1 import Container as ContainerMessage
from .gen.containerd.services.containers.v1 import (
    ContainerRuntime,
    CreateContainerRequest,
    ListContainersRequest,
)
from .gen.containerd.services.events.v1 import Envelope
from .gen.containerd.services.snapshots.v1 import (
    MountsRequest,
    PrepareSnapshotRequest,
    RemoveSnapshotRequest,
)
from .gen.containerd.services.tasks.v1 import GetRequest, ListTasksRequest
from .gen.containerd.v1.types import Process as ProcessMessage
from .gen.google.protobuf import Empty
from .images import RemoteImageStores
from .leases import RemoteLeases
from .monitor import EventMonitor
from .rpc import Connection, call
from .task import RemoteTask
from .unpack import RemoteUnpacker

log = logging.getLogger(__name__)

SHIM_V2 = "io.containerd.runc.v2"

# A container's snapshot is prepared under the client's lease, which keeps it from the GC
# until Containers.Create makes the container record its owner. The lease expires on its
# own, so a snapshot whose container never got made (the daemon died in between) is
# reclaimed by containerd even if no restore ever runs; restore removes it sooner. A new
# lease is made well before the old one expires, off the create path: creates cost no
# lease RPC.
SNAPSHOT_LEASE_EXPIRY = timedelta(hours=1)

ExitKey = tuple[str, str, int]

# The task events the client's own records read (a task's status, its exit): subscribed to
# whichever events the Backend takes.
_TRACKED = frozenset({EventType.EXIT, EventType.START, EventType.PAUSED, EventType.RESUMED})


class RemoteClient:
    def __init__(
        self,
        address: str,
        namespace: str,
        backend: Backend,
        fifo_root: str | Path,
        snapshot_lease_expiry: timedelta = SNAPSHOT_LEASE_EXPIRY,
        events: Collection[EventType] | None = None,
    ) -> None:
        self.conn = Connection(address, namespace)
        self.fifo_root = Path(fifo_root)
        self._dispatcher = Dispatcher(backend)
        # The Backend's events (None: all of them) and the client's own are subscribed to.
        self._events = None if events is None else frozenset(events)
        topics = topics_of(None if self._events is None else self._events | _TRACKED)
        self._monitor = EventMonitor(self.conn, self._on_envelope, self._reconcile, topics)
        self._containers: dict[str, RemoteContainer] = {}
        self._tasks: dict[str, RemoteTask] = {}
        # Exits already handed to the Backend, so that one seen both on the stream and by a
        # reconcile after a gap is delivered exactly once.
        self._exits_seen: set[ExitKey] = set()
        self._leases = RemoteLeases(self.conn)
        self._lease_expiry = snapshot_lease_expiry
        self.snapshot_lease = ""
        self._lease_renewal: asyncio.Task[None] | None = None
        self._reconnect_callbacks: list[Callable[[], None]] = []
        # Tasks the last restore found without a container record.
        self._orphans: dict[str, ProcessMessage] = {}

    @classmethod
    async def connect(
        cls,
        address: str,
        namespace: str,
        backend: Backend,
        fifo_root: str | Path,
        timeout: float = 30.0,
        snapshot_lease_expiry: timedelta = SNAPSHOT_LEASE_EXPIRY,
        events: Collection[EventType] | None = None,
    ) -> RemoteClient:
        """A connected client; `events`: the event types `backend` is to be given (None:
        every one; a Backend that ignores some saves their delivery, monitor.py)."""
        client = cls(address, namespace, backend, fifo_root, snapshot_lease_expiry, events)
        try:
            await client._monitor.start(timeout)
            client.snapshot_lease = await client._leases.create(expire=snapshot_lease_expiry)
            client._lease_renewal = asyncio.get_running_loop().create_task(
                client._renew_lease(), name="containerd-snapshot-lease"
            )
        except BaseException:
            await client.close()
            raise
        return client

    @property
    def namespace(self) -> str:
        return self.conn.namespace

    def rpc_counts(self) -> Mapping[str, int]:
        return self.conn.counts()

    @property
    def subscriptions(self) -> int:
        """How many times the event stream has been (re)established."""
        return self._monitor.subscriptions

    async def wait_events_live(self, timeout: float = 30.0) -> None:
        await self._monitor.wait_live(timeout)

    async def events_idle(self) -> None:
        await self._dispatcher.idle()

    async def _renew_lease(self) -> None:
        while True:
            # A period, not a wait for some state: half the lease's life.
            await asyncio.sleep(self._lease_expiry.total_seconds() / 2)
            try:
                self.snapshot_lease = await self._leases.create(expire=self._lease_expiry)
            except Exception as exc:  # the old one still has half its life: retry later
                log.warning("could not renew the snapshot lease: %s", exc)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call `callback` each time the event stream is back after containerd went away."""
        self._reconnect_callbacks.append(callback)

    async def version(self) -> tuple[str, str]:
        resp = await call(self.conn.stubs.version.version(Empty()))
        return resp.version, resp.revision

    def image_stores(self, snapshotter: str = DEFAULT_SNAPSHOTTER) -> RemoteImageStores:
        return RemoteImageStores(self.conn, snapshotter)

    # -- containers -------------------------------------------------------------------

    async def new_container(
        self,
        container_id: str,
        spec: Mapping[str, Any] | SpecFactory,
        runtime: RuntimeSpec,
        snapshot: SnapshotSpec | None = None,
        image: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> RemoteContainer:
        mounts = None
        if snapshot is not None and snapshot.exists:
            listed = await call(
                self.conn.stubs.snapshots.mounts(
                    MountsRequest(snapshotter=snapshot.snapshotter, key=snapshot.key)
                ),
                container_id,
            )
            mounts = list(listed.mounts)
        elif snapshot is not None:
            with self.conn.lease(self.snapshot_lease):
                resp = await call(
                    self.conn.stubs.snapshots.prepare(
                        PrepareSnapshotRequest(
                            snapshotter=snapshot.snapshotter,
                            key=snapshot.key,
                            parent=snapshot.parent,
                            labels=dict(snapshot.labels),
                        )
                    ),
                    container_id,
                )
            mounts = list(resp.mounts)
        try:
            if callable(spec):
                spec = spec([to_mount(m) for m in mounts or []])
        except BaseException:
            if snapshot is not None:
                await self._remove_snapshot(snapshot)
            raise
        packed = anycodec.pack_json(anycodec.OCI_SPEC_TYPE, spec)
        record = ContainerRecord(
            id=container_id,
            image=image,
            labels=dict(labels or {}),
            runtime=runtime,
            snapshotter=snapshot.snapshotter if snapshot else "",
            snapshot_key=snapshot.key if snapshot else "",
            spec=specs.kept(spec),
            spec_digest=specs.digest(packed.value),
        )
        message = ContainerMessage(
            id=container_id,
            labels=record.labels,
            image=image,
            runtime=ContainerRuntime(
                name=runtime.shim, options=runtime_options.container_options(runtime)
            ),
            spec=packed,
            snapshotter=record.snapshotter,
            snapshot_key=record.snapshot_key,
        )
        try:
            await call(
                self.conn.stubs.containers.create(CreateContainerRequest(container=message)),
                container_id,
            )
        except BaseException:
            if snapshot is not None:
                await self._remove_snapshot(snapshot)
            raise
        container = RemoteContainer(self, record, mounts)
        self._containers[container_id] = container
        return container

    async def _remove_snapshot(self, snapshot: SnapshotSpec) -> None:
        # Best effort: what fails here is left to the lease's expiry and to restore.
        with contextlib.suppress(Exception):
            await self.remove_snapshot(snapshot.key, snapshot.snapshotter)

    async def remove_snapshot(self, key: str, snapshotter: str = DEFAULT_SNAPSHOTTER) -> None:
        """Snapshots.Remove; one that is gone already counts as removed."""
        with contextlib.suppress(NotFoundError):
            await call(
                self.conn.stubs.snapshots.remove(
                    RemoveSnapshotRequest(snapshotter=snapshotter, key=key)
                )
            )

    async def rescue_orphan_task(
        self, task_id: str, labels: Mapping[str, str] | None = None
    ) -> None:
        """Kill and delete a task whose container record is gone: containerd serves a task
        only through its container, so a placeholder record with its id (and `labels`) is
        made for the purpose and deleted after it. Containers.Create, Tasks.Kill,
        Tasks.Delete, Containers.Delete; only tasks of v2 shims can be reached this way."""
        found = self._orphans.pop(task_id, None)
        if found is None:
            return
        runtime = RuntimeSpec(SHIM_V2)
        placeholder = ContainerMessage(
            id=task_id,
            labels=dict(labels or {}),
            runtime=ContainerRuntime(name=runtime.shim),
            spec=anycodec.pack_json(anycodec.OCI_SPEC_TYPE, {}),
        )
        await call(
            self.conn.stubs.containers.create(CreateContainerRequest(container=placeholder)),
            task_id,
        )
        record = ContainerRecord(id=task_id, labels=dict(labels or {}), runtime=runtime)
        container = RemoteContainer(self, record, found_task=found)
        self._containers[task_id] = container
        await container.delete()

    async def restore(self) -> Inventory[RemoteContainer]:
        """Every container of the namespace with its task, every task and every snapshot:
        one Containers.List, one Tasks.List and one Snapshots.List."""
        self._dispatcher.hold()
        try:
            # Side by side: containerd answers one while this process decodes another.
            listed, tasks, snapshots = await asyncio.gather(
                call(self.conn.stubs.containers.list(ListContainersRequest())),
                call(self.conn.stubs.tasks.list(ListTasksRequest())),
                RemoteUnpacker(self.conn).snapshots(),
            )
            found = {t.id: t for t in tasks.tasks}
            self._orphans = dict(found)
            restored = []
            for message in listed.containers:
                self._orphans.pop(message.id, None)
                task = found.get(message.id)
                known = self._containers.get(message.id)
                if known is not None:
                    # Reconciling after containerd came back: keep the objects handed out,
                    # and learn of a task made while the client could not hear of it.
                    if task is not None:
                        known.found(task)
                    restored.append(known)
                    continue
                if task is not None and task_status(task.status) is TaskStatus.STOPPED:
                    # Its exit is reported by the task's status; drop the stream's copy.
                    self._exits_seen.add((message.id, INIT_PROCESS_ID, task.pid))
                container = RemoteContainer(self, _record(message), found_task=task)
                self._containers[message.id] = container
                restored.append(container)
            return Inventory(restored, [task_info(t) for t in tasks.tasks], snapshots)
        finally:
            self._dispatcher.release()

    # -- bookkeeping used by containers and tasks ---------------------------------------

    def track_task(self, task: RemoteTask) -> None:
        self._tasks[task.container_id] = task

    def forget(self, container_id: str) -> None:
        self._containers.pop(container_id, None)
        self._tasks.pop(container_id, None)
        self._exits_seen = {k for k in self._exits_seen if k[0] != container_id}

    # -- events -----------------------------------------------------------------------

    def _on_envelope(self, envelope: Envelope) -> None:
        decoded = decode(envelope.topic, envelope.event)
        if decoded is not None:
            self._deliver(*decoded)

    def _deliver(self, event_type: EventType, info: EventInfo) -> None:
        task = self._tasks.get(info.container_id)
        if event_type is EventType.EXIT and info.process_id == INIT_PROCESS_ID:
            # Only a task's own exit can come twice (the stream and a reconcile both report
            # it); an exec's comes on the stream alone, so it is not kept (a long-lived
            # container's every exec, healthchecks too, would stay in the set).
            key = (info.container_id, info.process_id, info.pid)
            if key in self._exits_seen:
                return
            self._exits_seen.add(key)
            # Only the exit of the init process this task runs ends it: a late exit of an
            # earlier run (a shim re-sending it, unseen by this client) names another pid.
            # As daemon/container/state.py exit_ends_run: 0 is a pid not known.
            ours = info.pid == 0 or task is None or task.pid in (0, info.pid)
            if task is not None and ours:
                task.exited(info.exit_code, info.exited_at)
        elif task is not None:
            if event_type is EventType.PAUSED:
                task.status = TaskStatus.PAUSED
            elif event_type in (EventType.START, EventType.RESUMED):
                task.status = TaskStatus.RUNNING
        if self._events is None or event_type in self._events:
            self._dispatcher.submit(event_type, info)

    async def _reconcile(self) -> None:
        """After a gap in the event stream: deliver exits that happened while it was down."""
        tasks = await call(self.conn.stubs.tasks.list(ListTasksRequest()))
        found = {t.id: t for t in tasks.tasks}
        for container_id, task in list(self._tasks.items()):
            if task.status is TaskStatus.STOPPED:
                continue
            listed = found.get(container_id)
            if listed is None:
                # Not listed is not proof of gone (a slow shim is left out): ask for it.
                try:
                    got = await call(
                        self.conn.stubs.tasks.get(GetRequest(container_id=container_id))
                    )
                    listed = got.process
                except NotFoundError:
                    log.warning("task %s is gone from containerd: exit 255", container_id[:12])
                    self._deliver(
                        EventType.EXIT, EventInfo(container_id, pid=task.pid, exit_code=255)
                    )
                except Exception as exc:
                    log.warning("task %s: state unknown: %s", container_id[:12], exc)
            if listed is not None and task_status(listed.status) is TaskStatus.STOPPED:
                self._deliver(EventType.EXIT, _exit_info(container_id, listed, INIT_PROCESS_ID))
            for exec_id, process in list(task.processes.items()):
                await self._reconcile_exec(container_id, exec_id, process.pid)
        for callback in self._reconnect_callbacks:
            callback()

    async def _reconcile_exec(self, container_id: str, exec_id: str, pid: int) -> None:
        # Tasks.List has no exec processes; only a gap in the stream justifies a Get.
        try:
            resp = await call(
                self.conn.stubs.tasks.get(GetRequest(container_id=container_id, exec_id=exec_id))
            )
        except Exception:
            return
        if resp.process is not None and task_status(resp.process.status) is TaskStatus.STOPPED:
            self._deliver(EventType.EXIT, _exit_info(container_id, resp.process, exec_id))

    async def close(self) -> None:
        if self._lease_renewal is not None:
            self._lease_renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_renewal
        await self._monitor.close()
        await self._dispatcher.close()
        await self.conn.close()


def _exit_info(container_id: str, process: ProcessMessage, process_id: str) -> EventInfo:
    return EventInfo(
        container_id,
        process_id,
        process.pid,
        process.exit_status,
        process.exited_at,
    )


def _record(message: ContainerMessage) -> ContainerRecord:
    # Presence by `is None`, not truth: a betterproto2 message's truth compares every
    # field with its default (under catch_warnings), ~11 us a container at restore.
    # An absent or empty runtime gives "" and None either way; a spec counts when it
    # has a type or a value, as its truth did.
    runtime = message.runtime
    spec = message.spec
    return ContainerRecord(
        id=message.id,
        image=message.image,
        labels=dict(message.labels),
        runtime=runtime_options.runtime_from_record(
            runtime.name if runtime is not None else "",
            runtime.options if runtime is not None else None,
        ),
        snapshotter=message.snapshotter,
        snapshot_key=message.snapshot_key,
        spec=specs.kept(anycodec.unpack_json(spec)),
        spec_digest=(
            specs.digest(spec.value) if spec is not None and (spec.type_url or spec.value) else b""
        ),
    )
