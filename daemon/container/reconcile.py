"""How restore makes containerd and the container store agree: a plan, computed from the two
sides' lists alone (no I/O), which the daemon then carries out step by step.

The rules, applied the same way at every restore (and after containerd came back):

- containerd is the truth about what runs. A running (or paused) task is kept and its stdio
  re-attached; if the store shows the container created or exited, the task is adopted: the
  container becomes running with the task's pid. The user asked for that start and containerd
  carried it out; killing the process would undo work it may already have done, and the
  daemon's only loss was its own note that the start had finished.
- A stopped task is deleted and its exit code recorded (a container the store still shows as
  created ran and exited meanwhile: it is recorded as exited with that code). A task that was
  created but never started is killed and deleted; the container keeps its status.
- A container the store shows running whose task is gone exited while the daemon was away:
  it is exited with the code the daemon wrote down before deleting the task, 255 otherwise.
  Gone means not listed and not found by a Tasks.Get: containerd's Tasks.List leaves out a
  task whose shim does not answer within 2 s, which happens under load.
- A record whose removal had begun (`removing`) is removed completely: task, containerd
  container, snapshot, directory.
- A record whose containerd container is missing gets it again (recreated on its snapshot if
  that survived, else on a new one from its image).
- containerd containers and active snapshots that carry this daemon's owner label and that no
  record owns are removed (with their task, looked up with Tasks.Get if none was listed):
  they are creates that never finished. Committed
  snapshots (image layers, parents of containers) are never touched; neither is anything
  owned by another daemon sharing the namespace.
- A task whose containerd container is gone (what daemons before this rule left when they
  deleted a container under its running task) is nobody's: it is killed and deleted, through
  a placeholder container record made for the purpose, since containerd reaches a task only
  through its container.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from libcontainerd.types import ContainerRecord, SnapshotInfo, TaskInfo, TaskStatus

from .model import Status

# On containerd containers and snapshots: which daemon (by data root) made them.
OWNER_LABEL = "moorage.owner"
# What a container's snapshot carried before owner labels (a root nothing removed).
LEGACY_SNAPSHOT_LABELS = {"containerd.io/gc.root": "container"}


@dataclass(frozen=True)
class RecordView:
    """A container as the store holds it."""

    id: str
    status: Status
    # An exit the daemon wrote down before deleting its task (see monitor.py, _task_exited).
    recorded_exit: int | None = None


class Kind(enum.Enum):
    REATTACH = "reattach"  # running task, running record: re-open its stdio
    ADOPT = "adopt"  # running task, record not running: the container becomes running
    COLLECT_EXIT = "collect-exit"  # stopped task: delete it, record its exit
    DISCARD_TASK = "discard-task"  # created, never started: kill and delete it
    LOST_TASK = "lost-task"  # record running, no task: exited (recorded code or 255)
    FINISH_REMOVAL = "finish-removal"  # record removing: remove everything
    RECREATE = "recreate"  # record without containerd container: make it again
    REMOVE_CONTAINER = "remove-container"  # ours, no record: task, container, snapshot go
    REMOVE_SNAPSHOT = "remove-snapshot"  # ours, active, nobody's rootfs
    ORPHAN_TASK = "orphan-task"  # task without containerd container: killed and deleted


@dataclass(frozen=True)
class Step:
    kind: Kind
    id: str  # container id, or snapshot key for REMOVE_SNAPSHOT
    pid: int = 0
    exit_code: int = 0
    exited_at: datetime | None = None
    task_status: TaskStatus | None = None
    snapshot_exists: bool = False  # RECREATE: reuse the snapshot that survived

    def describe(self) -> str:
        match self.kind:
            case Kind.ADOPT:
                return f"adopting running task (pid {self.pid}) the store did not show running"
            case Kind.COLLECT_EXIT:
                return f"task exited with {self.exit_code} while the daemon was away"
            case Kind.DISCARD_TASK:
                return "deleting a task that was created but never started"
            case Kind.LOST_TASK:
                return f"task gone while the daemon was away: exit code {self.exit_code}"
            case Kind.FINISH_REMOVAL:
                return "finishing an interrupted removal"
            case Kind.RECREATE:
                return "recreating the missing containerd container"
            case Kind.REMOVE_CONTAINER:
                return "removing a containerd container no record owns (unfinished create)"
            case Kind.REMOVE_SNAPSHOT:
                return "removing an active snapshot no container owns"
            case Kind.ORPHAN_TASK:
                return "killing and deleting a task whose containerd container is gone"
            case _:
                return "re-attaching a running task"


LOST_EXIT_CODE = 255


def plan(
    records: Iterable[RecordView],
    containers: Iterable[ContainerRecord],
    tasks: Iterable[TaskInfo],
    snapshots: Iterable[SnapshotInfo],
    owner: str,
    busy: Collection[str] = (),
) -> list[Step]:
    """The steps that make containerd and the store agree.

    `busy` are ids of creates under way (only when reconciling a live daemon): their
    containerd objects may exist before their record does, so they are left alone.
    """
    by_record = {r.id: r for r in records}
    by_container = {c.id: c for c in containers}
    by_task = {t.id: t for t in tasks}
    snapshots = [s for s in snapshots if s.kind == "active"]
    steps: list[Step] = []

    for record in by_record.values():
        task = by_task.get(record.id)
        if record.status is Status.REMOVING:
            steps.append(Step(Kind.FINISH_REMOVAL, record.id))
            continue
        if record.id not in by_container:
            if record.status is not Status.DEAD:
                kept = any(s.name == record.id for s in snapshots)
                steps.append(Step(Kind.RECREATE, record.id, snapshot_exists=kept))
            continue
        steps.extend(task_steps(record, task))

    for container in by_container.values():
        if container.id in by_record or container.id in busy:
            continue
        if container.labels.get(OWNER_LABEL) == owner:
            steps.append(Step(Kind.REMOVE_CONTAINER, container.id))

    for task in by_task.values():
        # (One a record still claims is reachable again once RECREATE has run.)
        if task.id not in by_container and task.id not in busy and task.id not in by_record:
            steps.append(Step(Kind.ORPHAN_TASK, task.id, pid=task.pid))

    used = {c.snapshot_key for c in by_container.values() if c.snapshot_key}
    used |= set(by_record) | set(busy)
    for snapshot in snapshots:
        if snapshot.name not in used and _ours(snapshot, owner):
            steps.append(Step(Kind.REMOVE_SNAPSHOT, snapshot.name))
    return steps


def _ours(snapshot: SnapshotInfo, owner: str) -> bool:
    labels = snapshot.labels
    if OWNER_LABEL in labels:
        return labels[OWNER_LABEL] == owner
    return all(labels.get(k) == v for k, v in LEGACY_SNAPSHOT_LABELS.items())


def task_steps(record: RecordView, task: TaskInfo | None) -> list[Step]:
    """What a record with this task (or none) needs; LOST_TASK is a conclusion from a list's
    silence, which the daemon confirms (Tasks.Get) before it applies it."""
    running = record.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING)
    if task is None:
        if not running:
            return []
        code = record.recorded_exit if record.recorded_exit is not None else LOST_EXIT_CODE
        return [Step(Kind.LOST_TASK, record.id, exit_code=code)]
    if task.status in (TaskStatus.RUNNING, TaskStatus.PAUSED, TaskStatus.PAUSING):
        status = TaskStatus.PAUSED if task.status is TaskStatus.PAUSING else task.status
        if record.status is Status.DEAD:
            # The removal that failed will kill it; the task is kept known until then.
            return [Step(Kind.REATTACH, record.id, pid=task.pid, task_status=status)]
        kind = Kind.REATTACH if record.status in (Status.RUNNING, Status.PAUSED) else Kind.ADOPT
        return [Step(kind, record.id, pid=task.pid, task_status=status)]
    if task.status is TaskStatus.STOPPED:
        return [
            Step(
                Kind.COLLECT_EXIT,
                record.id,
                pid=task.pid,
                exit_code=task.exit_code,
                exited_at=task.exited_at,
            )
        ]
    # created (never started) or unknown: nothing ran that the store must show
    code = record.recorded_exit if record.recorded_exit is not None else LOST_EXIT_CODE
    return [Step(Kind.DISCARD_TASK, record.id, pid=task.pid, exit_code=code)]
