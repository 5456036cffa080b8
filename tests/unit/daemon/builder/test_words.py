"""Dockerfile word processing: quotes, escapes, variables (pure logic)."""

from __future__ import annotations

import pytest

from daemon.builder.words import WordError, env_map, word

ENV = {"A": "1", "EMPTY": "", "SPACED": "x y"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$A", "1"),
        ("${A}b", "1b"),
        ("pre-$A-post", "pre-1-post"),
        ("$NOPE", ""),
        ("'$A'", "$A"),
        ('"$A"', "1"),
        ('"a \\"q\\" b"', 'a "q" b'),
        ("\\$A", "$A"),
        ("${EMPTY:-default}", "default"),
        ("${A:-default}", "1"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${NOPE:-${A}}", "1"),
        ("a\\ b", "a b"),
        ("$", "$"),
        ('"x y"', "x y"),
    ],
)
def test_word(text: str, expected: str) -> None:
    assert word(text, ENV) == expected


def test_escape_directive_character() -> None:
    assert word("a`$b", {"b": "no"}, escape="`") == "a$b"
    assert word("C:\\dir", {}, escape="`") == "C:\\dir"


@pytest.mark.parametrize("text", ["'open", '"open', "${A", "${A:?x}"])
def test_malformed_words_are_errors(text: str) -> None:
    with pytest.raises(WordError):
        word(text, ENV)


def test_env_map_last_wins() -> None:
    assert env_map(["A=1", "B=x=y", "A=2"]) == {"A": "2", "B": "x=y"}
    assert env_map(None) == {}
