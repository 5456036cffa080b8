"""Go's formatting of durations, string lists and the healthcheck struct (pure logic)."""

from __future__ import annotations

import pytest

from daemon.builder import gotext


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, "0s"),
        (5 * 10**9, "5s"),
        (500_000_000, "500ms"),
        (1_500, "1.5µs"),
        (90 * 10**9, "1m30s"),
        (3_600 * 10**9 + 500_000_000, "1h0m0.5s"),
    ],
)
def test_duration_text_is_go_duration_string(nanos: int, text: str) -> None:
    assert gotext.duration_text(nanos) == text
    assert gotext.parse_duration(text) == nanos


def test_bad_duration() -> None:
    with pytest.raises(ValueError, match='time: invalid duration "5 s"'):
        gotext.parse_duration("5 s")


def test_healthcheck_as_dockerd_writes_it_in_history() -> None:
    check = {"Test": ["CMD-SHELL", "true"], "Interval": 5 * 10**9, "Retries": 3}
    assert gotext.healthcheck_text(check) == '&{["CMD-SHELL" "true"] "5s" "0s" "0s" \'\\x03\'}'
    assert gotext.quoted_list(["a b", 'q"']) == '["a b" "q\\""]'
