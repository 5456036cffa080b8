"""Dockerfile word processing: quotes, escapes and `$VAR` expansion, as the classic
builder applies them to the arguments of ENV, ARG, LABEL, COPY, WORKDIR and the like.

Rules (Docker's shell lexer, written from its documented behaviour): single quotes
keep everything literally; double quotes keep spaces and expand variables, and in
them the escape character only escapes `"`, `$`, itself and a newline; outside
quotes it escapes any character. `$NAME`, `${NAME}`, `${NAME:-word}` (word when
unset or empty) and `${NAME:+word}` (word when set and not empty) are expanded;
an unknown variable is empty.
"""

from __future__ import annotations

from collections.abc import Mapping


class WordError(ValueError):
    """A word that cannot be processed (an unclosed quote or brace)."""


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def word(self) -> str:
        parts: list[str] = []
        while self.pos < len(self.text):
            parts.append(self.unit())
        return "".join(parts)

    def unit(self, stop: str = "") -> str:
        """One piece of a word: a quoted run, an escape, a variable or a character."""
        ch = self.take()
        if ch == "'":
            return self._single()
        if ch == '"':
            return self._double()
        if ch == self.escape:
            nxt = self.take()
            return nxt  # an escape at the very end is dropped
        if ch == "$":
            return self._variable()
        return ch

    def _single(self) -> str:
        end = self.text.find("'", self.pos)
        if end < 0:
            raise WordError("unexpected end of statement while looking for matching single-quote")
        value = self.text[self.pos : end]
        self.pos = end + 1
        return value

    def _double(self) -> str:
        parts: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise WordError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            ch = self.take()
            if ch == '"':
                return "".join(parts)
            if ch == self.escape and self.peek() in ('"', "$", self.escape, "\n"):
                parts.append(self.take())
            elif ch == "$":
                parts.append(self._variable())
            else:
                parts.append(ch)

    def _name(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.peek() == "_"):
            self.pos += 1
        return self.text[start : self.pos]

    def _variable(self) -> str:
        ch = self.peek()
        if ch == "{":
            self.pos += 1
            return self._braced()
        name = self._name()
        if not name:
            return "$"
        return self.env.get(name, "")

    def _braced(self) -> str:
        name = self._name()
        if not name:
            raise WordError(f"bad substitution: missing name in ${{{self.text[self.pos :]}")
        ch = self.take()
        if ch == "}":
            return self.env.get(name, "")
        if ch == ":":
            modifier = self.take()
            word = self._until_brace()
            value = self.env.get(name, "")
            if modifier == "-":
                return value if value else word
            if modifier == "+":
                return word if value else ""
            raise WordError(f"unsupported modifier ({modifier}) in substitution")
        raise WordError("missing ':' in substitution")

    def _until_brace(self) -> str:
        parts: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise WordError("syntax error: missing '}'")
            if self.peek() == "}":
                self.pos += 1
                return "".join(parts)
            parts.append(self.unit())


def word(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word with its quotes removed and its variables expanded."""
    return _Lexer(text, env, escape).word()


def env_map(env: list[str] | None) -> dict[str, str]:
    """`KEY=value` entries as a mapping (the last one of a key wins)."""
    found: dict[str, str] = {}
    for entry in env or ():
        key, _, value = entry.partition("=")
        found[key] = value
    return found
