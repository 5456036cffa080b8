"""Restore's rules, from hand-made store and containerd states (the plan is pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime

from daemon.container.model import Status
from daemon.container.reconcile import (
    LEGACY_SNAPSHOT_LABELS,
    LOST_EXIT_CODE,
    OWNER_LABEL,
    Kind,
    RecordView,
    Step,
    plan,
)
from libcontainerd.types import ContainerRecord, SnapshotInfo, TaskInfo, TaskStatus

OWNER = "/var/lib/moorage"
A, B, C = "a" * 64, "b" * 64, "c" * 64
IMAGE_TOP = "sha256:" + "1" * 64


def ours(cid: str) -> ContainerRecord:
    return ContainerRecord(id=cid, snapshot_key=cid, labels={OWNER_LABEL: OWNER})


def rootfs(key: str, owner: str = OWNER) -> SnapshotInfo:
    return SnapshotInfo(key, IMAGE_TOP, "active", {OWNER_LABEL: owner})


def task(cid: str, status: TaskStatus, pid: int = 4242, code: int = 0) -> TaskInfo:
    return TaskInfo(cid, pid, status, code, datetime(2026, 1, 1, tzinfo=UTC) if code else None)


def test_created_record_with_running_task_is_adopted_with_its_pid() -> None:
    steps = plan(
        [RecordView(A, Status.CREATED)],
        [ours(A)],
        [task(A, TaskStatus.RUNNING, pid=99)],
        [rootfs(A)],
        OWNER,
    )
    assert steps == [Step(Kind.ADOPT, A, pid=99, task_status=TaskStatus.RUNNING)]


def test_exited_record_with_paused_task_is_adopted_paused() -> None:
    steps = plan([RecordView(A, Status.EXITED)], [ours(A)], [task(A, TaskStatus.PAUSED)], [], OWNER)
    assert steps == [Step(Kind.ADOPT, A, pid=4242, task_status=TaskStatus.PAUSED)]


def test_running_record_with_running_task_is_reattached() -> None:
    steps = plan(
        [RecordView(A, Status.RUNNING)], [ours(A)], [task(A, TaskStatus.RUNNING)], [], OWNER
    )
    assert [s.kind for s in steps] == [Kind.REATTACH]


def test_running_record_without_task_exits_with_the_code_written_down() -> None:
    records = [RecordView(A, Status.RUNNING, recorded_exit=143), RecordView(B, Status.PAUSED)]
    steps = plan(records, [ours(A), ours(B)], [], [rootfs(A), rootfs(B)], OWNER)
    assert steps == [
        Step(Kind.LOST_TASK, A, exit_code=143),
        Step(Kind.LOST_TASK, B, exit_code=LOST_EXIT_CODE),
    ]


def test_stopped_task_gives_its_real_exit_code() -> None:
    steps = plan(
        [RecordView(A, Status.RUNNING)],
        [ours(A)],
        [task(A, TaskStatus.STOPPED, code=137)],
        [],
        OWNER,
    )
    assert [(s.kind, s.exit_code) for s in steps] == [(Kind.COLLECT_EXIT, 137)]


def test_task_created_but_never_started_is_discarded() -> None:
    steps = plan(
        [RecordView(A, Status.CREATED)], [ours(A)], [task(A, TaskStatus.CREATED)], [], OWNER
    )
    assert [s.kind for s in steps] == [Kind.DISCARD_TASK]


def test_created_or_exited_record_without_task_needs_nothing() -> None:
    records = [RecordView(A, Status.CREATED), RecordView(B, Status.EXITED)]
    assert plan(records, [ours(A), ours(B)], [], [rootfs(A), rootfs(B)], OWNER) == []


def test_container_and_task_without_record_are_removed() -> None:
    steps = plan([], [ours(A)], [task(A, TaskStatus.RUNNING)], [rootfs(A)], OWNER)
    # Removing the container removes its task and snapshot with it.
    assert steps == [Step(Kind.REMOVE_CONTAINER, A)]


def test_another_daemons_objects_are_left_alone() -> None:
    theirs = ContainerRecord(id=A, snapshot_key=A, labels={OWNER_LABEL: "/elsewhere"})
    legacy = ContainerRecord(id=B, snapshot_key=B, labels={"moorage.name": "/old"})
    steps = plan(
        [],
        [theirs, legacy],
        [task(A, TaskStatus.RUNNING), task(B, TaskStatus.RUNNING)],
        [rootfs(A, "/elsewhere"), rootfs(C, "/elsewhere")],
        OWNER,
    )
    assert steps == []


def test_snapshot_without_container_is_removed_but_image_layers_are_not() -> None:
    committed = SnapshotInfo("sha256:" + "2" * 64, "", "committed", {})
    legacy = SnapshotInfo(B, IMAGE_TOP, "active", dict(LEGACY_SNAPSHOT_LABELS))
    unlabelled = SnapshotInfo(C, IMAGE_TOP, "active", {})
    steps = plan([], [], [], [rootfs(A), committed, legacy, unlabelled], OWNER)
    assert steps == [Step(Kind.REMOVE_SNAPSHOT, A), Step(Kind.REMOVE_SNAPSHOT, B)]


def test_snapshot_of_a_record_or_a_create_under_way_is_kept() -> None:
    steps = plan(
        [RecordView(A, Status.CREATED)], [ours(A)], [], [rootfs(A), rootfs(B)], OWNER, busy={B}
    )
    assert steps == []


def test_create_under_way_keeps_its_container_and_task() -> None:
    steps = plan([], [ours(A)], [task(A, TaskStatus.CREATED)], [rootfs(A)], OWNER, busy={A})
    assert steps == []


def test_record_without_containerd_container_is_recreated() -> None:
    records = [RecordView(A, Status.EXITED), RecordView(B, Status.CREATED)]
    steps = plan(records, [], [], [rootfs(A)], OWNER)
    assert steps == [
        Step(Kind.RECREATE, A, snapshot_exists=True),
        Step(Kind.RECREATE, B, snapshot_exists=False),
    ]


def test_dead_record_without_container_stays_dead() -> None:
    assert plan([RecordView(A, Status.DEAD)], [], [], [], OWNER) == []


def test_interrupted_removal_is_finished_whatever_containerd_holds() -> None:
    records = [RecordView(A, Status.REMOVING), RecordView(B, Status.REMOVING)]
    steps = plan(records, [ours(A)], [task(A, TaskStatus.RUNNING)], [rootfs(B)], OWNER)
    assert steps == [Step(Kind.FINISH_REMOVAL, A), Step(Kind.FINISH_REMOVAL, B)]


def test_task_without_any_container_is_killed_and_deleted() -> None:
    steps = plan([], [], [task(A, TaskStatus.RUNNING, pid=7)], [], OWNER)
    assert steps == [Step(Kind.ORPHAN_TASK, A, pid=7)]


def test_task_of_a_record_whose_container_is_gone_waits_for_the_recreate() -> None:
    steps = plan([RecordView(A, Status.RUNNING)], [], [task(A, TaskStatus.RUNNING)], [], OWNER)
    assert steps == [Step(Kind.RECREATE, A)]


def test_restarting_record_with_running_task_is_adopted() -> None:
    steps = plan(
        [RecordView(A, Status.RESTARTING)], [ours(A)], [task(A, TaskStatus.RUNNING)], [], OWNER
    )
    assert [s.kind for s in steps] == [Kind.ADOPT]
