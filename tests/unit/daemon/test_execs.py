"""Exec bookkeeping without a containerd: records, ExecIDs, events, a failed start, the exit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from daemon import errors
from daemon.container.live import LiveContainer
from daemon.container.model import Container, Status
from daemon.container.state import StateMachine
from daemon.execs import ExecManager
from libcontainerd.errors import LibcontainerdError
from libcontainerd.types import EventInfo, StdioSpec

CID = "c" * 64


class Output:
    """A FIFO read end whose writer has closed at once: end of stream."""

    def __init__(self) -> None:
        self.closed = False

    async def read(self) -> bytes:
        return b""


@dataclass
class Stdio:
    stdin: None = None
    stdout: Output = field(default_factory=Output)
    stderr: None = None
    terminal: bool = False
    closed: int = 0

    def close(self) -> None:
        self.closed += 1


@dataclass
class Process:
    id: str
    spec: dict[str, Any]
    fail: str = ""
    stdio: Stdio = field(default_factory=Stdio)
    deleted: bool = False
    pid: int = 0
    # When set, Tasks.Start's answer waits for it (the process itself has started), and
    # `asked` is set once the start is asked for.
    answer: asyncio.Event | None = None
    asked: asyncio.Event = field(default_factory=asyncio.Event)
    deleted_before_answer: bool = False

    async def start(self) -> int:
        if self.fail:
            raise LibcontainerdError(self.fail)
        self.asked.set()
        if self.answer is not None:
            await self.answer.wait()
            if self.deleted:
                # containerd's Start reads the process's state after starting it.
                self.deleted_before_answer = True
                raise LibcontainerdError(f"process does not exist {self.id}: not found")
        self.pid = 4242
        return self.pid

    async def close_stdin(self) -> None: ...

    async def delete(self) -> None:
        self.deleted = True


@dataclass
class Task:
    fail: str = ""
    processes: list[Process] = field(default_factory=list)

    answer: asyncio.Event | None = None
    asked: asyncio.Event = field(default_factory=asyncio.Event)  # a start was asked for

    async def exec(self, exec_id: str, spec: dict[str, Any], stdio: StdioSpec) -> Process:
        process = Process(exec_id, spec, self.fail, answer=self.answer, asked=self.asked)
        self.processes.append(process)
        return process


@dataclass
class Record:
    spec: dict[str, Any]


@dataclass
class Lcd:
    running_task: Task
    record: Record = field(default_factory=lambda: Record({"process": {"env": ["A=1"]}}))

    def task(self) -> Task:
        return self.running_task


class Host:
    def __init__(self, live: LiveContainer) -> None:
        self.live = live
        self.events: list[tuple[str, dict[str, str]]] = []

    def get(self, ref: str) -> LiveContainer:
        if not CID.startswith(ref):
            raise errors.NotFound(f"No such container: {ref}")
        return self.live

    def find(self, container_id: str) -> LiveContainer | None:
        return self.live if container_id == CID else None

    def container_event(self, live: LiveContainer, action: str, **extra: str) -> None:
        self.events.append((action, extra))


def _setup(fail: str = "") -> tuple[ExecManager, Host, Task]:
    model = Container(
        id=CID, name="/c", created="", path="", args=[], config={}, host_config={},
        image_id="", runtime="runc",
    )  # fmt: skip
    model.state.status = Status.RUNNING
    live = LiveContainer(model, StateMachine(model, lambda _: None))
    task = Task(fail)
    live.lcd = Lcd(task)  # type: ignore[assignment]
    host = Host(live)
    return ExecManager(host, {"CAP_CHOWN", "CAP_KILL"}), host, task


async def test_create_lists_an_exec_but_not_a_probe() -> None:
    execs, host, _ = _setup()
    shown = execs.create("ccc", {"Cmd": ["true"]})
    hidden = execs.create(CID, {"Cmd": ["true"]}, probe=True)
    assert host.live.model.exec_ids == [shown]
    assert set(host.live.execs) == {shown, hidden}
    assert host.events == [
        ("exec_create: true ", {"execID": shown}),
        ("exec_create: true ", {"execID": hidden}),
    ]
    execs.discard(execs.get(hidden))
    assert set(host.live.execs) == {shown}
    with pytest.raises(errors.NotFound, match=f"No such exec instance: {hidden}"):
        execs.get(hidden)


@pytest.mark.parametrize(
    ("status", "config", "error"),
    [
        (Status.EXITED, {"Cmd": ["true"]}, errors.Conflict),
        (Status.PAUSED, {"Cmd": ["true"]}, errors.Conflict),
        (Status.RUNNING, {"Cmd": []}, errors.InvalidParameter),
        (Status.RUNNING, {"Cmd": ["true"], "DetachKeys": "ctrl-"}, errors.SystemError),
    ],
)
def test_create_refuses_and_records_nothing(
    status: Status, config: dict[str, Any], error: type[errors.DaemonError]
) -> None:
    execs, host, _ = _setup()
    host.live.model.state.status = status
    with pytest.raises(error):
        execs.create(CID, config)
    assert host.live.execs == {} and host.live.model.exec_ids == [] and host.events == []


async def test_start_then_exit_records_pid_and_code_once() -> None:
    execs, host, task = _setup()
    exec_id = execs.create(CID, {"Cmd": ["sh"], "Env": ["A=2"], "Privileged": True})
    record, attachment = execs.prepare(exec_id)
    await execs.start(record)
    assert (record.running, record.pid) == (True, 4242)
    spec = task.processes[0].spec
    assert spec["env"] == ["A=2"] and spec["capabilities"]["bounding"] == ["CAP_CHOWN", "CAP_KILL"]
    with pytest.raises(errors.Conflict, match="is already running"):
        await execs.start(record)
    await execs.exited(host.live, EventInfo(CID, process_id=exec_id, exit_code=3))
    assert (record.running, record.exit_code, record.exited.is_set()) == (False, 3, True)
    assert task.processes[0].deleted
    assert host.events[-1] == ("exec_die", {"execID": exec_id, "exitCode": "3"})
    async with asyncio.timeout(5):
        assert await attachment.next() is None  # the client's stream ended
    with pytest.raises(errors.Conflict, match=f"Error: Exec command {exec_id} has already run"):
        await execs.start(record)


async def test_an_exit_before_the_starts_answer_waits_for_it_to_delete() -> None:
    """A process that exits at once can have its exit event in before its start's reply;
    deleting it then would fail the start that worked (containerd reads its state after)."""
    execs, host, task = _setup()
    task.answer = answer = asyncio.Event()
    exec_id = execs.create(CID, {"Cmd": ["true"]})
    record, _ = execs.prepare(exec_id)
    starting = asyncio.ensure_future(execs.start(record))
    async with asyncio.timeout(5):
        await task.asked.wait()
    exiting = asyncio.ensure_future(
        execs.exited(host.live, EventInfo(CID, process_id=exec_id, exit_code=0))
    )
    for _ in range(20):  # the exit's handling goes as far as it can
        await asyncio.sleep(0)
    assert not task.processes[0].deleted and not exiting.done()
    answer.set()
    async with asyncio.timeout(5):
        await starting
        await exiting
    process = task.processes[0]
    assert (process.deleted, process.deleted_before_answer) == (True, False)
    assert (record.pid, record.exit_code) == (4242, 0)


async def test_a_failed_start_says_why_and_ends_with_126() -> None:
    message = 'exec: "no-such": executable file not found in $PATH: unknown'
    execs, host, task = _setup(fail=message)
    exec_id = execs.create(CID, {"Cmd": ["no-such"]})
    record, attachment = execs.prepare(exec_id)
    with pytest.raises(errors.InvalidParameter) as raised:
        await execs.start(record)
    assert str(raised.value) == message
    assert (record.exit_code, record.running) == (126, False)
    process = task.processes[0]
    assert process.deleted and process.stdio.closed >= 1  # its FIFOs let go of
    async with asyncio.timeout(5):
        assert await attachment.next() is None
    # dockerd says it started before it asks the runtime, so a failed start has one too.
    assert [action for action, _ in host.events] == [
        "exec_create: no-such ",
        "exec_start: no-such ",
    ]


def test_forget_drops_the_execs_of_a_removed_container() -> None:
    execs, host, _ = _setup()
    exec_id = execs.create(CID, {"Cmd": ["true"]})
    execs.forget(host.live)
    with pytest.raises(errors.NotFound):
        execs.get(exec_id)
