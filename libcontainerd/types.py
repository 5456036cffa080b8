"""Everything a consumer of libcontainerd needs, in one file.

The daemon is handed long-lived `Container`, `Task` and `Process` objects and
keeps them; each holds what containerd told it, so reading state costs no
round trip. For images it is handed containerd's stores (`ImageStores`: content,
image records, leases, snapshots), which the image service keeps the same way.
Implementations live in `remote/` (containerd over gRPC).
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

INIT_PROCESS_ID = "init"
DEFAULT_SNAPSHOTTER = "overlayfs"
# On a committed layer snapshot made by `Unpacker`: the size of the layer's uncompressed
# tar, which is what an image's size is made of, kept where the layer is so any image
# can use it.
LAYER_SIZE_LABEL = "moorage.io/layer-size"
# A Snapshots.List filter for the snapshots that carry it (containerd's filter syntax; the
# local backend ignores label filters, so callers still check the label).
LAYER_SIZE_FILTER = f'labels."{LAYER_SIZE_LABEL}"'


class EventType(enum.StrEnum):
    CREATE = "create"
    START = "start"
    EXIT = "exit"
    OOM = "oom"
    EXEC_ADDED = "exec-added"
    EXEC_STARTED = "exec-started"
    PAUSED = "paused"
    RESUMED = "resumed"


class TaskStatus(enum.StrEnum):
    UNKNOWN = "unknown"
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"
    PAUSED = "paused"
    PAUSING = "pausing"


@dataclass(frozen=True, slots=True)
class EventInfo:
    """What one containerd task event says; `process_id` is `init` for the task itself."""

    container_id: str
    process_id: str = INIT_PROCESS_ID
    pid: int = 0
    exit_code: int = 0
    exited_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExitStatus:
    exit_code: int
    exited_at: datetime | None
    pid: int = 0


@dataclass(frozen=True, slots=True)
class StdioSpec:
    """Which streams a new process gets; FIFOs are made for exactly these."""

    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    terminal: bool = False


@dataclass(frozen=True, slots=True)
class Mount:
    """A rootfs mount as the snapshotter returns it and the shim wants it."""

    type: str
    source: str
    options: tuple[str, ...] = ()
    target: str = ""


class MountLike(Protocol):
    """What reading or mounting a rootfs needs of a mount: a `Mount`, or the gRPC message."""

    @property
    def type(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def options(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class SnapshotSpec:
    """The rootfs of a new container: a writable snapshot on top of `parent`.

    `labels` go on the snapshot; `exists` means it is there already (a container made
    again on the rootfs it had), so it is mounted instead of prepared.
    """

    key: str
    parent: str
    snapshotter: str = DEFAULT_SNAPSHOTTER
    labels: Mapping[str, str] = field(default_factory=dict)
    exists: bool = False


@dataclass(frozen=True, slots=True)
class RuntimeSpec:
    """The shim to run a container with, and the OCI runtime binary it should call.

    `binary` empty means the shim's default (runc); `root` is the runtime's state dir.
    """

    shim: str
    binary: str = ""
    root: str = ""


@dataclass(frozen=True, slots=True)
class Metrics:
    """One stats sample: the decoded cgroup v1 or v2 metrics message of the task."""

    timestamp: datetime
    cgroup_version: int
    data: Any


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """A task as containerd listed it."""

    id: str
    pid: int
    status: TaskStatus
    exit_code: int = 0
    exited_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    exec_id: str = ""


@dataclass(slots=True)
class ContainerRecord:
    """containerd's record of a container, as created or as restored.

    `spec`: the container's OCI spec as far as the client keeps it. The remote client
    keeps only `process` and `linux.cgroupsPath` (libcontainerd.specs: containerd holds
    the rest); the local backend all of it (it writes the bundle from it). `spec_digest`:
    the digest of the whole spec as encoded for containerd (specs.digest)."""

    id: str
    image: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    runtime: RuntimeSpec = field(default_factory=lambda: RuntimeSpec("io.containerd.runc.v2"))
    snapshotter: str = ""
    snapshot_key: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    spec_digest: bytes = b""


# -- images: what containerd's content, image and snapshot stores hold ------------------


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI descriptor: a blob of the content store named by its digest."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """containerd's record of an image: a name pointing at a manifest or index."""

    name: str
    target: Descriptor
    labels: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ContentInfo:
    digest: str
    size: int
    labels: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IngestStatus:
    """A write in progress (`ref`), which a later write with the same ref resumes."""

    ref: str
    offset: int
    total: int
    expected: str = ""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    name: str
    parent: str
    kind: str  # "active", "committed" or "view"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One layer to unpack: its blob and the digest of its uncompressed tar."""

    blob: Descriptor
    diff_id: str


@dataclass(frozen=True, slots=True)
class UnpackedLayer:
    chain_id: str
    size: int | None  # of the uncompressed tar; None when the layer was there before
    applied: bool


Opener = Callable[[int], AsyncIterable[bytes]]
"""Gives a blob's bytes starting at an offset (0, or where an earlier write stopped)."""

Progress = Callable[[int], None]
"""Told how many bytes of a blob are in the store so far."""


SpecFactory = Callable[[Sequence[Mount]], Mapping[str, Any]]
"""Builds a container's spec once its rootfs mounts are known (e.g. to read /etc/passwd)."""


class Stream(Protocol):
    """A process output stream (one FIFO): `read()` returns b"" at end of stream."""

    async def read(self) -> bytes: ...

    def close(self) -> None: ...


class StdinStream(Protocol):
    async def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class Stdio(Protocol):
    """The daemon's ends of a process's FIFOs, opened before the process exists.

    They belong to whoever reads them, who closes them when done: deleting the
    process removes only the FIFO files, so that its last output can still be read.
    Deleting the container closes what is left of its task's.
    `close()` is safe at any time and wakes a read (b"") or write (BrokenPipeError)
    that waits.
    """

    @property
    def stdin(self) -> StdinStream | None: ...

    @property
    def stdout(self) -> Stream | None: ...

    @property
    def stderr(self) -> Stream | None: ...

    @property
    def terminal(self) -> bool: ...

    def close(self) -> None: ...


@runtime_checkable
class Process(Protocol):
    """An exec'd process inside a running task."""

    @property
    def id(self) -> str: ...

    @property
    def pid(self) -> int: ...

    @property
    def stdio(self) -> Stdio: ...

    async def start(self) -> int: ...

    async def kill(self, signal: int) -> None: ...

    async def resize(self, width: int, height: int) -> None: ...

    async def close_stdin(self) -> None: ...

    async def delete(self) -> ExitStatus:
        """Delete the process; its stdio ends stay open (see `Stdio`)."""
        ...


@runtime_checkable
class Task(Process, Protocol):
    """The init process of a container, and the handle for its other processes."""

    @property
    def status(self) -> TaskStatus: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...

    async def exec(
        self, exec_id: str, process_spec: Mapping[str, Any], stdio: StdioSpec
    ) -> Process: ...

    async def stats(self) -> Metrics: ...

    async def pids(self) -> list[ProcessInfo]: ...

    async def update(self, resources: Mapping[str, Any]) -> None: ...


@runtime_checkable
class Container(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def record(self) -> ContainerRecord: ...

    async def new_task(self, stdio: StdioSpec) -> Task: ...

    def task(self) -> Task | None: ...

    @property
    def found_task(self) -> TaskInfo | None: ...

    async def attach_task(self) -> Task | None: ...

    async def rootfs_mounts(self) -> list[Mount]: ...

    async def update_spec(self, spec: Mapping[str, Any]) -> None: ...

    async def probe_task(self) -> TaskInfo | None: ...

    async def delete_task(self) -> None: ...

    async def delete(self) -> None: ...


C = TypeVar("C", bound=Container, covariant=True)


@dataclass(frozen=True)
class Inventory(Generic[C]):
    """What restore found in the namespace: every container (each with the task containerd
    listed for it), every task, and every snapshot of the default snapshotter."""

    containers: Sequence[C]
    tasks: Sequence[TaskInfo]
    snapshots: Sequence[SnapshotInfo]


class ContentStore(Protocol):
    """containerd's content store: blobs by digest, written through resumable ingests."""

    def read(self, digest: str, offset: int = 0, size: int = 0) -> AsyncIterator[bytes]:
        """The blob's bytes from `offset` (`size` 0: to the end)."""
        ...

    async def read_blob(self, digest: str, limit: int) -> bytes:
        """A whole small blob (a manifest, a config); ValueError if larger than `limit`."""
        ...

    async def write(
        self,
        ref: str,
        expected: str,
        total: int,
        source: Opener,
        *,
        labels: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> bool:
        """Writes the blob `expected` of `total` bytes under the ingest `ref`, resuming
        an earlier write with the same ref. True when this call committed it, False when
        it was there already. ConflictError: the bytes do not match `expected`."""
        ...

    async def update_labels(self, digest: str, labels: Mapping[str, str]) -> ContentInfo:
        """Sets (or, with an empty value, removes) the given labels; others stay."""
        ...


class ImageStore(Protocol):
    """containerd's image records: names pointing at a manifest or index, with labels."""

    async def list(self, *filters: str) -> list[ImageRecord]: ...

    async def create(self, record: ImageRecord) -> ImageRecord:
        """AlreadyExistsError when the name is taken."""
        ...

    async def update(self, record: ImageRecord, fields: Sequence[str] = ()) -> ImageRecord:
        """Replaces the record, or only `fields` (`target`, `labels`, `labels.<key>`)."""
        ...

    async def delete(self, name: str, *, sync: bool = False) -> None:
        """`sync` waits for the garbage collection that the deletion allows."""
        ...


class Leases(Protocol):
    """What keeps half-made images from containerd's garbage collector: content, ingests
    and snapshots made under a lease belong to it until it is deleted or expires."""

    async def create(
        self,
        lease_id: str = "",
        *,
        expire: timedelta | None = None,
        labels: Mapping[str, str] | None = None,
        exist_ok: bool = False,
    ) -> str:
        """Creates a lease (a random id when none is given) and returns its id; with
        `exist_ok` one that exists counts as created (a retry takes over its content)."""
        ...

    async def delete(self, lease_id: str, *, sync: bool = False) -> None:
        """`sync` waits for the garbage collection that the deletion allows."""
        ...

    def use(self, lease_id: str) -> AbstractContextManager[None]:
        """Everything made inside the block (by this task and tasks it starts) is
        made under `lease_id`."""
        ...

    def temporary(
        self, *, expire: timedelta = ..., sync: bool = False
    ) -> AbstractAsyncContextManager[str]:
        """A new lease, in use inside the block and deleted when it ends."""
        ...


def lease_id_or_new(lease_id: str) -> str:
    """`lease_id`, or a random one when none is given (Leases.create, every backend)."""
    return lease_id or f"moorage-{secrets.token_hex(8)}"


@asynccontextmanager
async def temporary_lease(leases: Leases, *, expire: timedelta, sync: bool) -> AsyncIterator[str]:
    """Leases.temporary for every backend, made of its create, use and delete."""
    lease_id = await leases.create(expire=expire)
    try:
        with leases.use(lease_id):
            yield lease_id
    finally:
        await leases.delete(lease_id, sync=sync)


class Unpacker(Protocol):
    """Image layers unpacked into committed snapshots named by their chain IDs."""

    @property
    def snapshotter(self) -> str: ...

    async def snapshots(self, *filters: str) -> list[SnapshotInfo]: ...

    async def committed(self, chain: Sequence[str]) -> set[str]:
        """Which of these chain IDs are committed snapshots."""
        ...

    async def unpack(
        self, layers: Sequence[LayerSpec], *, present: set[str] | None = None
    ) -> list[UnpackedLayer]:
        """Applies the layers (bottom first) not yet unpacked; one entry per layer.
        `present`: the committed chain IDs, when the caller knows them already."""
        ...

    async def apply_layer(self, layer: LayerSpec, chain_id: str, parent: str) -> int:
        """Unpacks one layer on `parent`, committed as `chain_id` with its size
        (`LAYER_SIZE_LABEL`); returns the uncompressed size. LayerDigestMismatchError:
        the content is not `layer.diff_id`."""
        ...


class ImageStores(Protocol):
    """containerd's stores that images live in, for one namespace and snapshotter."""

    @property
    def content(self) -> ContentStore: ...

    @property
    def images(self) -> ImageStore: ...

    @property
    def leases(self) -> Leases: ...

    @property
    def unpacker(self) -> Unpacker: ...


class Backend(Protocol):
    """What the daemon implements to learn about task events, in order per container."""

    async def process_event(
        self, container_id: str, event_type: EventType, event_info: EventInfo
    ) -> None: ...


@runtime_checkable
class Client(Protocol):
    @property
    def namespace(self) -> str: ...

    def rpc_counts(self) -> Mapping[str, int]: ...

    async def version(self) -> tuple[str, str]: ...

    def image_stores(self, snapshotter: str = DEFAULT_SNAPSHOTTER) -> ImageStores:
        """The content, image, lease and snapshot stores of the client's namespace, whose
        RPCs are counted with the client's."""
        ...

    async def new_container(
        self,
        container_id: str,
        spec: Mapping[str, Any] | SpecFactory,
        runtime: RuntimeSpec,
        snapshot: SnapshotSpec | None = None,
        image: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> Container: ...

    async def restore(self) -> Inventory[Container]: ...

    async def remove_snapshot(self, key: str, snapshotter: str = DEFAULT_SNAPSHOTTER) -> None: ...

    async def rescue_orphan_task(
        self, task_id: str, labels: Mapping[str, str] | None = None
    ) -> None: ...

    def on_reconnect(self, callback: Callable[[], None]) -> None: ...

    async def close(self) -> None: ...
