"""daemon.timefmt: the one place RFC 3339 times are written and read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from daemon.timefmt import (
    ZERO_UNIX,
    created_text,
    created_unix,
    format_go_duration,
    parse_rfc3339,
    parse_rfc3339_nano,
    rfc3339_nano,
)


def test_fixed_form_keeps_nine_digits() -> None:
    assert rfc3339_nano(1_500_000_000, fixed=True) == "1970-01-01T00:00:01.500000000Z"
    assert rfc3339_nano(None, fixed=True) == "0001-01-01T00:00:00Z"
    naive = datetime(2024, 5, 1, 10, 0, 0, 250000)
    assert rfc3339_nano(naive) == "2024-05-01T10:00:00.25Z"  # naive means UTC


def test_stamps_of_interleaved_seconds() -> None:
    # The last second's text is kept: a different second must never reuse it.
    second = 1_700_000_000 * 1_000_000_000
    for _ in range(2):
        assert rfc3339_nano(second + 5) == "2023-11-14T22:13:20.000000005Z"
        assert rfc3339_nano(second - 5) == "2023-11-14T22:13:19.999999995Z"
        assert rfc3339_nano(second) == "2023-11-14T22:13:20Z"


def test_strict_and_lenient_parsing() -> None:
    # json-file log times must use "T"; image configs may use a space.
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        parse_rfc3339_nano("2024-05-01 10:00:00Z")
    with pytest.raises(ValueError):
        parse_rfc3339_nano(" 2024-05-01T10:00:00Z")
    stamp = parse_rfc3339(" 2024-05-01 12:00:00.5+02:00\n")
    assert stamp is not None
    assert stamp.moment == datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert stamp.nanos == 500_000_000
    assert stamp.seconds == datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp() + 0.5
    assert parse_rfc3339("2024-02-30T00:00:00Z") is None
    assert parse_rfc3339(None) is None


def test_image_created_keeps_its_zone() -> None:
    assert created_text("2024-01-02T03:04:05.120-05:30") == "2024-01-02T03:04:05.12-05:30"
    assert created_text("2024-01-02T03:04:05.000Z") == "2024-01-02T03:04:05Z"
    assert created_text("yesterday") == "0001-01-01T00:00:00Z"
    assert created_unix("1970-01-01T00:01:00+00:01") == 0
    assert created_unix(None) == ZERO_UNIX


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (0.0015, "1.5ms"),
        (2e-6, "2µs"),
        (1, "1s"),
        (1.5, "1.5s"),
        (90, "1m30s"),
        (3600, "1h0m0s"),
        (3725.25, "1h2m5.25s"),
    ],
)
def test_go_duration_as_go_prints_it(seconds: float, text: str) -> None:
    assert format_go_duration(seconds) == text
