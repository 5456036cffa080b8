"""Log driver and json-file option checks, with dockerd's messages."""

from __future__ import annotations

import pytest

from daemon import errors
from daemon.logs.config import (
    JsonFileOptions,
    LogOptionError,
    ReadingNotSupported,
    ensure_readable,
    parse_human_size,
    validate_log_config,
)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("100", 100),
        ("1k", 1000),
        ("1K", 1000),
        ("10m", 10_000_000),
        ("10mb", 10_000_000),
        ("1g", 1_000_000_000),
        ("1.5k", 1500),
        ("2 m", 2_000_000),
        ("7b", 7),
    ],
)
def test_sizes_use_decimal_units(text: str, size: int) -> None:
    assert parse_human_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "10x", "-1", "1 0m", "m"])
def test_bad_size_is_refused_with_dockerd_message(text: str) -> None:
    with pytest.raises(LogOptionError) as caught:
        parse_human_size(text)
    assert str(caught.value) == f"invalid size: '{text}'"


def test_options_are_parsed() -> None:
    opts = JsonFileOptions.parse({"max-size": "10m", "max-file": "3"})
    assert opts == JsonFileOptions(max_size=10_000_000, max_file=3, compress=False)
    assert JsonFileOptions.parse({}) == JsonFileOptions(None, 1, False)
    # dockerd accepts several files without a size; they are never used.
    assert JsonFileOptions.parse({"max-file": "5"}).max_file == 5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max-size": "0"}, "max-size must be a positive number"),
        ({"max-size": "1.2.3"}, 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
        ({"max-file": "0"}, "max-file cannot be less than 1"),
        ({"max-file": "x"}, 'strconv.Atoi: parsing "x": invalid syntax'),
        ({"max-file": " 2"}, 'strconv.Atoi: parsing " 2": invalid syntax'),
        ({"compress": "maybe"}, 'strconv.ParseBool: parsing "maybe": invalid syntax'),
        (
            {"compress": "true", "max-size": "1m"},
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
    ],
)
def test_bad_option_values(options: dict[str, str], message: str) -> None:
    with pytest.raises(LogOptionError) as caught:
        JsonFileOptions.parse(options)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, errors.InvalidParameter)


def test_driver_names() -> None:
    assert validate_log_config("", {}) == "json-file"
    assert validate_log_config("json-file", {"max-size": "1m", "tag": "x"}) == "json-file"
    # "none" takes any options, as in dockerd.
    assert validate_log_config("none", {"whatever": "1"}) == "none"
    with pytest.raises(LogOptionError) as caught:
        validate_log_config("local", {})
    assert str(caught.value) == "logger: no log driver named 'local' is registered"


def test_unknown_option_and_mode() -> None:
    with pytest.raises(LogOptionError) as caught:
        validate_log_config("json-file", {"max-sizee": "1m"})
    assert str(caught.value) == "unknown log opt 'max-sizee' for json-file log driver"
    with pytest.raises(LogOptionError) as caught:
        validate_log_config("json-file", {"mode": "fast"})
    assert str(caught.value) == "logger: logging mode not supported: fast"
    with pytest.raises(LogOptionError) as caught:
        validate_log_config("json-file", {"max-buffer-size": "1m"})
    assert "only supported with 'mode=non-blocking'" in str(caught.value)
    assert validate_log_config("json-file", {"mode": "non-blocking", "max-buffer-size": "4m"})


def test_none_driver_cannot_be_read() -> None:
    ensure_readable("json-file")
    ensure_readable("")
    with pytest.raises(ReadingNotSupported) as caught:
        ensure_readable("none")
    assert str(caught.value) == "configured logging driver does not support reading"
