"""The message Go's encoding/json gives a malformed document, for dockerd's "invalid JSON" 400s.

dockerd decodes request bodies with Go's ``json.Decoder``, and its 400 carries
that decoder's message (``invalid character 'i' looking for beginning of object
key string``, ``unexpected EOF``). Clients and users see the text, so it is
reproduced here. Only the error path runs this scanner: bodies are parsed by
Python's json module, and the scanner explains a document Python refused.

Like the decoder, `go_syntax_error` reads one value and ignores what follows it;
`go_unmarshal_syntax_error` is ``json.Unmarshal``'s, which checks the whole input
(dockerd decodes a seccomp profile's text with it).
"""

from __future__ import annotations

_WHITESPACE = b" \t\r\n"
_DIGITS = b"0123456789"
_HEX = b"0123456789abcdefABCDEF"
_ESCAPES = b'"\\/bfnrtu'
_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}

UNEXPECTED_EOF = "unexpected EOF"
UNEXPECTED_END = "unexpected end of JSON input"


class _SyntaxError(Exception):
    pass


def _quote(byte: int) -> str:
    """A byte as Go's error messages quote it: 'x', '\\n', '\\x01', '\\''."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    named = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t",
             0x0B: "\\v", 0x5C: "\\\\"}  # fmt: skip
    if byte in named:
        return f"'{named[byte]}'"
    if byte < 0x20 or byte == 0x7F:
        return f"'\\x{byte:02x}'"
    if 0x80 <= byte < 0xA0:
        return f"'\\u{byte:04x}'"
    # Go turns the byte into the rune of the same number, so Latin-1 is right here.
    return f"'{chr(byte)}'"


class _Scanner:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _invalid(self, context: str) -> _SyntaxError:
        return _SyntaxError(f"invalid character {_quote(self.data[self.pos])} {context}")

    def _peek(self) -> int:
        if self.pos >= len(self.data):
            raise _SyntaxError(UNEXPECTED_EOF)
        return self.data[self.pos]

    def _skip_space(self) -> int:
        while self.pos < len(self.data) and self.data[self.pos] in _WHITESPACE:
            self.pos += 1
        return self._peek()

    def value(self, context: str = "looking for beginning of value") -> None:
        c = self._skip_space()
        if c == ord("{"):
            self._object()
        elif c == ord("["):
            self._array()
        elif c == ord('"'):
            self._string()
        elif c == ord("-") or c in _DIGITS:
            self._number()
        elif c in _LITERALS:
            self._literal(_LITERALS[c])
        else:
            raise self._invalid(context)

    def _object(self) -> None:
        self.pos += 1
        if self._skip_space() == ord("}"):
            self.pos += 1
            return
        while True:
            if self._skip_space() != ord('"'):
                raise self._invalid("looking for beginning of object key string")
            self._string()
            if self._skip_space() != ord(":"):
                raise self._invalid("after object key")
            self.pos += 1
            self.value()
            c = self._skip_space()
            if c == ord("}"):
                self.pos += 1
                return
            if c != ord(","):
                raise self._invalid("after object key:value pair")
            self.pos += 1

    def _array(self) -> None:
        self.pos += 1
        if self._skip_space() == ord("]"):
            self.pos += 1
            return
        while True:
            self.value()
            c = self._skip_space()
            if c == ord("]"):
                self.pos += 1
                return
            if c != ord(","):
                raise self._invalid("after array element")
            self.pos += 1

    def _string(self) -> None:
        self.pos += 1
        while True:
            c = self._peek()
            if c == ord('"'):
                self.pos += 1
                return
            if c == ord("\\"):
                self.pos += 1
                escape = self._peek()
                if escape not in _ESCAPES:
                    raise self._invalid("in string escape code")
                self.pos += 1
                if escape == ord("u"):
                    for _ in range(4):
                        if self._peek() not in _HEX:
                            raise self._invalid("in \\u hexadecimal character escape")
                        self.pos += 1
                continue
            if c < 0x20:
                raise self._invalid("in string literal")
            self.pos += 1

    def _digits(self) -> None:
        while self.pos < len(self.data) and self.data[self.pos] in _DIGITS:
            self.pos += 1

    def _number(self) -> None:
        if self._peek() == ord("-"):
            self.pos += 1
            if self._peek() not in _DIGITS:
                raise self._invalid("in numeric literal")
        if self._peek() == ord("0"):
            self.pos += 1
        else:
            self._digits()
        # A number ends at any other byte; at the end of the input it may be complete
        # (top level) or not (inside a container, whose caller then sees the EOF).
        if self.pos < len(self.data) and self.data[self.pos] == ord("."):
            self.pos += 1
            if self._peek() not in _DIGITS:
                raise self._invalid("after decimal point in numeric literal")
            self._digits()
        if self.pos < len(self.data) and self.data[self.pos] in b"eE":
            self.pos += 1
            if self._peek() in b"+-":
                self.pos += 1
            if self._peek() not in _DIGITS:
                raise self._invalid("in exponent of numeric literal")
            self._digits()

    def _literal(self, word: bytes) -> None:
        self.pos += 1
        for expected in word[1:]:
            if self._peek() != expected:
                raise self._invalid(f"in literal {word.decode()} (expecting {_quote(expected)})")
            self.pos += 1


def go_syntax_error(data: bytes) -> str | None:
    """Go's message for the first syntax error in the first value of ``data``; None if none."""
    try:
        _Scanner(data).value()
    except _SyntaxError as exc:
        return str(exc)
    return None


def go_unmarshal_syntax_error(data: bytes) -> str | None:
    """Go's ``json.Unmarshal`` message for the first syntax error in ``data`` (one value
    and nothing but whitespace after it); None if the document is well formed."""
    scanner = _Scanner(data)
    try:
        scanner.value()
        while scanner.pos < len(data) and data[scanner.pos] in _WHITESPACE:
            scanner.pos += 1
        if scanner.pos < len(data):
            raise scanner._invalid("after top-level value")
    except _SyntaxError as exc:
        return UNEXPECTED_END if str(exc) == UNEXPECTED_EOF else str(exc)
    return None
