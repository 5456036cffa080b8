"""Restart policies and their backoff, as dockerd applies them, without a containerd."""

from __future__ import annotations

import itertools

import pytest

from daemon.container.restart import INITIAL_DELAY, MAX_DELAY, STABLE_RUN, Backoff, RestartPolicy


@pytest.mark.parametrize(
    ("name", "retries", "exit_code", "stopped", "count", "expected"),
    [
        ("no", 0, 1, False, 0, False),
        ("always", 0, 0, False, 0, True),
        ("always", 0, 0, True, 0, False),  # docker stop: never brought back
        ("unless-stopped", 0, 3, False, 7, True),
        ("unless-stopped", 0, 3, True, 0, False),
        ("on-failure", 0, 0, False, 0, False),  # success ends it
        ("on-failure", 0, 1, False, 100, True),  # no maximum
        ("on-failure", 3, 1, False, 2, True),
        ("on-failure", 3, 1, False, 3, False),  # the maximum reached
        ("on-failure", 3, 1, True, 0, False),
    ],
)
def test_after_exit(
    name: str, retries: int, exit_code: int, stopped: bool, count: int, expected: bool
) -> None:
    policy = RestartPolicy.of({"RestartPolicy": {"Name": name, "MaximumRetryCount": retries}})
    assert policy.after_exit(exit_code, stopped, count) is expected


def test_policy_of_an_empty_host_config_is_no() -> None:
    assert RestartPolicy.of({}) == RestartPolicy("no", 0)
    assert RestartPolicy.of({"RestartPolicy": {"Name": ""}}) == RestartPolicy("no", 0)


@pytest.mark.parametrize(
    ("name", "retries", "exit_code", "stopped", "expected"),
    [
        ("always", 0, 0, False, True),
        ("always", 0, 0, True, True),  # dockerd brings `always` back even after docker stop
        ("unless-stopped", 0, 0, False, True),
        ("unless-stopped", 0, 0, True, False),
        ("on-failure", 0, 2, False, True),
        ("on-failure", 0, 0, False, False),
        ("on-failure", 1, 2, False, False),  # its one retry was used
        ("no", 0, 1, False, False),
    ],
)
def test_at_daemon_start(
    name: str, retries: int, exit_code: int, stopped: bool, expected: bool
) -> None:
    policy = RestartPolicy(name, retries)
    assert policy.at_daemon_start(exit_code, stopped, restart_count=1) is expected


def test_backoff_doubles_to_a_minute_and_starts_over_after_a_stable_run() -> None:
    backoff = Backoff()
    delays = [backoff.next(ran_for=0.5) for _ in range(12)]
    assert delays[:4] == [INITIAL_DELAY, 2 * INITIAL_DELAY, 4 * INITIAL_DELAY, 8 * INITIAL_DELAY]
    assert all(b == min(2 * a, MAX_DELAY) for a, b in itertools.pairwise(delays))
    assert delays[-1] == MAX_DELAY
    assert backoff.next(ran_for=STABLE_RUN) == INITIAL_DELAY
    backoff.next(ran_for=0.5)
    backoff.reset()
    assert backoff.next(ran_for=0.5) == INITIAL_DELAY
