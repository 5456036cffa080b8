"""The container state machine: every input in every state, and who it wakes."""

from __future__ import annotations

import pytest

from daemon.container.model import Container, Status
from daemon.container.state import (
    Input,
    ProbeResult,
    StateMachine,
    exit_ends_run,
    transition_event,
)
from wire.container import HealthcheckResult

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
    # Bookkeeping beside the status (the fixture makes each change something).
    **{(Input.START_REQUESTED, s): s for s in (S.CREATED, S.EXITED)},
    **{(Input.STOP_REQUESTED, s): s for s in (S.RUNNING, S.PAUSED, S.RESTARTING)},
    **{(Input.REATTACHED, s): s for s in (S.RUNNING, S.PAUSED)},
    **{(Input.HEALTH_STARTING, s): s for s in (S.RUNNING, S.PAUSED)},
    **{(Input.HEALTH_PROBED, s): s for s in (S.RUNNING, S.PAUSED)},
}


def _result(exit_code: int) -> HealthcheckResult:
    return {"Start": "s", "End": "e", "ExitCode": exit_code, "Output": f"exit {exit_code}"}


def _probe(exit_code: int, retries: int = 3, in_start_period: bool = False) -> ProbeResult:
    return ProbeResult(_result(exit_code), retries, in_start_period)


def _machine(
    status: Status, told: list[tuple[Input, Status]] | None = None
) -> tuple[StateMachine, list[Status]]:
    model = Container(
        id="c" * 64, name="/c", created="", path="", args=[], config={}, host_config={},
        image_id="", runtime="runc",
    )  # fmt: skip
    model.state.status = status
    # So that every bookkeeping input has something to change.
    model.restart_count = 2
    model.state.health = {"Status": "starting", "FailingStreak": 0, "Log": []}
    saved: list[Status] = []
    hook = None if told is None else lambda _c, event, before: told.append((event, before))
    return StateMachine(model, lambda c: saved.append(c.state.status), hook), saved


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("event", list(Input))
def test_every_input_in_every_state(event: Input, status: Status) -> None:
    told: list[tuple[Input, Status]] = []
    machine, saved = _machine(status, told)
    before = machine.container.as_json()
    accepted = machine.apply(event, pid=42, exit_code=3, error="why", probe=_probe(0))
    expected = TRANSITIONS.get((event, status))
    assert accepted is (expected is not None)
    if expected is None:
        assert machine.container.as_json() == before and saved == [] and told == []
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


def test_restart_count_starts_over_at_a_user_start_and_counts_policy_restarts() -> None:
    machine, saved = _machine(S.EXITED)
    container = machine.container
    assert machine.apply(Input.START_REQUESTED) and container.restart_count == 0
    # Already zero: nothing to change, nothing written (a start's usual case).
    assert not machine.apply(Input.START_REQUESTED) and len(saved) == 1
    # Counted when the policy decides it, as dockerd counts it (before the restart).
    assert machine.apply(Input.RESTARTING) and container.restart_count == 1
    assert not machine.apply(Input.RESTARTING)  # only after an exit
    machine.apply(Input.STARTED, pid=10)
    machine.apply(Input.EXITED, exit_code=1)
    assert machine.apply(Input.RESTARTING) and container.restart_count == 2


def test_a_manual_stop_holds_until_the_next_start() -> None:
    machine, saved = _machine(S.RUNNING)
    container = machine.container
    assert machine.apply(Input.STOP_REQUESTED) and container.manually_stopped
    assert not machine.apply(Input.STOP_REQUESTED) and len(saved) == 1  # said once
    machine.apply(Input.EXITED, exit_code=0)
    assert container.manually_stopped  # what the restart policy reads after the exit
    assert not machine.apply(Input.STOP_REQUESTED)  # not running: nothing to stop
    machine.apply(Input.STARTED, pid=9)
    assert not container.manually_stopped


def test_reattach_keeps_the_pid_restore_found() -> None:
    machine, saved = _machine(S.RUNNING)
    assert machine.apply(Input.REATTACHED, pid=77) and machine.container.state.pid == 77
    assert not machine.apply(Input.REATTACHED, pid=77) and len(saved) == 1


def test_health_starts_over_each_run_and_keeps_its_log() -> None:
    machine, _ = _machine(S.RUNNING)
    state = machine.container.state
    state.health = None
    assert not machine.apply(Input.HEALTH_PROBED, probe=_probe(0))  # no healthcheck
    machine.apply(Input.HEALTH_STARTING)
    health = machine.container.state.health
    assert health == {"Status": "starting", "FailingStreak": 0, "Log": []}
    machine.apply(Input.HEALTH_PROBED, probe=_probe(1, retries=1))
    assert health["Status"] == "unhealthy"
    machine.apply(Input.HEALTH_STARTING)
    assert (health["Status"], health["FailingStreak"]) == ("starting", 0)
    assert [entry["ExitCode"] for entry in health["Log"] or []] == [1]


def test_health_follows_dockers_rules_and_only_a_new_status_is_an_event() -> None:
    told: list[tuple[Input, Status]] = []
    machine, saved = _machine(S.RUNNING, told)
    health = machine.container.state.health
    assert health is not None
    statuses = []
    for probe in (
        _probe(1, retries=2, in_start_period=True),  # starting: does not count
        _probe(1, retries=2),
        _probe(1, retries=2),  # the second in a row: unhealthy
        _probe(1, retries=2),
        _probe(0, retries=2),  # a success: healthy, and the streak starts over
        _probe(1, retries=2, in_start_period=True),  # no longer starting: counts
    ):
        assert machine.apply(Input.HEALTH_PROBED, probe=probe)
        statuses.append((health["Status"], health["FailingStreak"]))
    assert statuses == [
        ("starting", 0),
        ("starting", 1),
        ("unhealthy", 2),
        ("unhealthy", 3),
        ("healthy", 0),
        ("healthy", 1),
    ]
    assert len(saved) == 6  # every result is kept
    assert [entry["ExitCode"] for entry in health["Log"] or []] == [1, 1, 1, 0, 1]  # the last 5
    # Only the probes that changed the status are transitions, each with its event.
    assert told == [(Input.HEALTH_PROBED, S.RUNNING)] * 2
    assert transition_event(machine.container, Input.HEALTH_PROBED, S.RUNNING) == (
        "health_status: healthy",
        {},
    )


@pytest.mark.parametrize(
    ("event", "before", "expected"),
    [
        (Input.STARTED, S.CREATED, ("start", {})),
        (Input.EXITED, S.RUNNING, ("die", {"exitCode": "0"})),
        (Input.EXITED, S.RESTARTING, None),  # a pending restart called off: said already
        (Input.OOM, S.RUNNING, ("oom", {})),
        (Input.PAUSED, S.RUNNING, ("pause", {})),
        (Input.RESUMED, S.PAUSED, ("unpause", {})),
        (Input.REMOVED, S.REMOVING, ("destroy", {})),
        (Input.STOP_REQUESTED, S.RUNNING, None),
        (Input.HEALTH_STARTING, S.RUNNING, None),
    ],
)
def test_transition_events_are_named_as_dockerd_names_them(
    event: Input, before: Status, expected: tuple[str, dict[str, str]] | None
) -> None:
    machine, _ = _machine(S.RUNNING)
    machine.container.state.health = None
    assert transition_event(machine.container, event, before) == expected


def test_an_exit_ends_only_the_run_the_state_records() -> None:
    machine, _ = _machine(S.CREATED)
    state = machine.container.state
    machine.apply(Input.STARTED, pid=100)
    assert exit_ends_run(state, 100)
    assert exit_ends_run(state, 0)  # a pid the event did not carry: the current run's
    assert not exit_ends_run(state, 99)  # an earlier run's exit, heard late
    machine.apply(Input.PAUSED)
    assert exit_ends_run(state, 100)
    machine.apply(Input.EXITED, exit_code=137)
    # Applied once (e.g. by restore, from containerd's listing): the same exit heard
    # again on the event stream changes nothing, whether a restart is pending or done.
    assert not exit_ends_run(state, 100)
    machine.apply(Input.RESTARTING)
    assert not exit_ends_run(state, 100)
    machine.apply(Input.STARTED, pid=200)
    assert not exit_ends_run(state, 100)
    assert exit_ends_run(state, 200)
    machine.apply(Input.REATTACHED, pid=300)  # restore found the task under another pid
    assert not exit_ends_run(state, 200)
    assert exit_ends_run(state, 300)
