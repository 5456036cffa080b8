"""The container state machine: every input in every state, and who it wakes."""

from __future__ import annotations

import pytest

from daemon.container.model import Container, Status
from daemon.container.state import Input, StateMachine

S = Status
# (input, status before) -> status after; every pair not listed is refused and changes nothing.
TRANSITIONS: dict[tuple[Input, Status], Status] = {
    **{(Input.STARTED, s): S.RUNNING for s in (S.CREATED, S.EXITED, S.RESTARTING)},
    **{(Input.EXIT_SEEN, s): s for s in (S.RUNNING, S.PAUSED)},
    (Input.START_FAILED, S.CREATED): S.CREATED,
    (Input.START_FAILED, S.EXITED): S.EXITED,
    (Input.START_FAILED, S.RESTARTING): S.EXITED,  # a restart that could not start
    **{(Input.EXITED, s): S.EXITED for s in (S.RUNNING, S.PAUSED, S.RESTARTING)},
    (Input.RESTARTING, S.EXITED): S.RESTARTING,
    **{(Input.OOM, s): s for s in Status},
    (Input.PAUSED, S.RUNNING): S.PAUSED,
    (Input.RESUMED, S.PAUSED): S.RUNNING,
    **{(Input.REMOVING, s): S.REMOVING for s in (S.CREATED, S.EXITED, S.DEAD)},
    (Input.REMOVE_FAILED, S.REMOVING): S.DEAD,
    (Input.REMOVED, S.REMOVING): S.REMOVING,
    **{(Input.BROKEN, s): S.DEAD for s in (S.CREATED, S.EXITED)},
}


def _machine(
    status: Status, told: list[tuple[Input, Status]] | None = None
) -> tuple[StateMachine, list[Status]]:
    model = Container(
        id="c" * 64, name="/c", created="", path="", args=[], config={}, host_config={},
        image_id="", runtime="runc",
    )  # fmt: skip
    model.state.status = status
    saved: list[Status] = []
    hook = None if told is None else lambda _c, event, before: told.append((event, before))
    return StateMachine(model, lambda c: saved.append(c.state.status), hook), saved


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("event", list(Input))
def test_every_input_in_every_state(event: Input, status: Status) -> None:
    told: list[tuple[Input, Status]] = []
    machine, saved = _machine(status, told)
    before = machine.container.state.as_json()
    accepted = machine.apply(event, pid=42, exit_code=3, error="why")
    expected = TRANSITIONS.get((event, status))
    assert accepted is (expected is not None)
    if expected is None:
        assert machine.container.state.as_json() == before and saved == [] and told == []
        return
    assert machine.status is expected
    # Every accepted change is persisted, but the removal (the record goes with it).
    assert saved == ([] if event is Input.REMOVED else [expected])
    # The transition hook (where its event comes from) hears of it once, with the status before.
    assert told == [(event, status)]


def test_start_clears_the_last_run_and_exit_records_it() -> None:
    machine, _ = _machine(S.EXITED)
    state = machine.container.state
    state.exit_code, state.oom_killed, state.error = 137, True, "old"
    machine.apply(Input.STARTED, pid=7)
    assert (state.pid, state.exit_code, state.oom_killed, state.error) == (7, 0, False, "")
    assert machine.container.has_been_started and state.started_at != ""
    machine.apply(Input.EXIT_SEEN, exit_code=9)
    assert state.recorded_exit == 9
    machine.apply(Input.EXITED, exit_code=9)
    assert (state.pid, state.exit_code) == (0, 9) and state.recorded_exit is None


async def test_waiters_are_woken_by_exit_and_removal() -> None:
    machine, _ = _machine(S.RUNNING)
    exit_waiter, removal = machine.next_exit(), machine.removal()
    gone = machine.next_exit()
    machine.forget_waiter(gone)
    assert not machine.not_running().done()  # running: answered at its exit
    machine.apply(Input.EXITED, exit_code=5)
    assert exit_waiter.result() == 5 and not removal.done() and not gone.done()
    assert machine.not_running().result() == 5  # not running: answered at once
    machine.apply(Input.REMOVING)
    machine.apply(Input.REMOVED)
    assert removal.result() == 5 and machine.removed
    assert machine.removal().result() == 5
