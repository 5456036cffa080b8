"""One json-file log entry: its on-disk line and the decoded form readers get."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from daemon.timefmt import parse_rfc3339_nano, rfc3339_nano


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A chunk of one stream's output; `data` ends in a newline unless the line was split."""

    stream: str
    data: bytes
    time_ns: int

    @property
    def partial(self) -> bool:
        return not self.data.endswith(b"\n")

    def timestamp(self) -> str:
        """The time as ``docker logs --timestamps`` prints it."""
        return rfc3339_nano(self.time_ns, fixed=True)


# Go's JSON string escaping with HTML safety on, which is what dockerd's writer
# does: "<", ">" and "&" become \u003c etc., and each byte that is not valid
# UTF-8 becomes one U+FFFD. Invalid bytes arrive here as the lone surrogates
# that Python's "surrogateescape" decoding produces.
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\udc80-\udcff]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    if "\udc80" <= char <= "\udcff":
        return "\\ufffd"
    return f"\\u{ord(char):04x}"


def go_json_string(data: bytes) -> str:
    """`data` as a JSON string literal, byte for byte as Go would encode it."""
    text = data.decode("utf-8", "surrogateescape")
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def encode_entry(stream: str, data: bytes, time_ns: int) -> bytes:
    """The line dockerd's json-file driver writes for one message, newline included."""
    line = (
        '{"log":'
        + go_json_string(data)
        + ',"stream":'
        + go_json_string(stream.encode())
        + ',"time":"'
        + rfc3339_nano(time_ns)
        + '"}\n'
    )
    return line.encode()


def decode_entry(line: bytes) -> LogEntry:
    """Parse one line of a json-file log; ValueError if it is not a log entry."""
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"invalid log entry: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError("invalid log entry: not an object")
    text, stream, when = obj.get("log", ""), obj.get("stream", ""), obj.get("time")
    if not isinstance(text, str) or not isinstance(stream, str) or not isinstance(when, str):
        raise ValueError("invalid log entry: wrong field types")
    return LogEntry(stream, text.encode("utf-8", "replace"), parse_rfc3339_nano(when))
