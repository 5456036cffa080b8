"""Detach keys: dockerd's syntax, and the scan of stdin for the sequence."""

from __future__ import annotations

import pytest

from daemon.container.detach import DEFAULT_DETACH_KEYS, DetachScanner, parse_detach_keys


@pytest.mark.parametrize(
    ("spec", "keys"),
    [
        ("", DEFAULT_DETACH_KEYS),
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-a,x", b"\x01x"),
        ("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,DEL", b"\x00\x1b\x1c\x1d\x1e\x1f\x7f"),
        ("a", b"a"),
    ],
)
def test_parse(spec: str, keys: bytes) -> None:
    assert parse_detach_keys(spec) == keys


@pytest.mark.parametrize("spec", ["ctrl-A", "ctrl-foo", "a,,b", "ab", "é", "ctrl-p,"])
def test_parse_refuses(spec: str) -> None:
    with pytest.raises(ValueError, match="Unknown character"):
        parse_detach_keys(spec)


def test_sequence_split_across_reads_detaches_and_is_not_passed_on() -> None:
    scanner = DetachScanner(b"\x10\x11")
    assert scanner.feed(b"ab\x10") == b"ab"
    assert not scanner.detached
    assert scanner.feed(b"\x11after") == b""
    assert scanner.detached
    assert scanner.feed(b"more") == b""


def test_a_broken_partial_sequence_is_passed_on_in_order() -> None:
    scanner = DetachScanner(b"\x01x")
    assert scanner.feed(b"\x01") == b""
    assert scanner.feed(b"y\n") == b"\x01y\n"
    # As dockerd's: the byte that breaks a match does not start a new one.
    assert scanner.feed(b"\x01\x01x") == b"\x01\x01x"
    assert not scanner.detached
