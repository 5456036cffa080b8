"""Compact JSON bytes: orjson, with the stdlib for what orjson refuses.

orjson is several times faster than the stdlib encoder, which was a large share of a
lifecycle's CPU (issue 13: state saves, replies, specs packed for containerd). It refuses
an int beyond 64 bits (and a lone surrogate), which the stdlib writes, so every document
that encoded before still does. It lives at the bottom layer so that libcontainerd, the
daemon and the api share it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_PLAIN = orjson.OPT_NON_STR_KEYS
# 20 digits in a row: maybe an int beyond 64 bits, which orjson would read as a float.
# Looked for as a substring once every digit reads "0" and every other byte " ": ~15x
# faster than the regex [0-9]{20} was (which cost 4x orjson's own parse of a container's
# state file; restore reads 200 of them, issue 13).
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_NUMBER = b"0" * 20
_NEWLINE = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
_SORTED = orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS


def dumps(document: Any, *, newline: bool = False, sort_keys: bool = False) -> bytes:
    """`document` as compact JSON (no spaces, as Go's encoder writes it); with `newline`,
    one line of a JSON stream; with `sort_keys`, objects' keys in order (two documents
    that are equal as JSON values whatever their key order give the same bytes)."""
    option = _SORTED if sort_keys else _NEWLINE if newline else _PLAIN
    if newline and sort_keys:
        option |= orjson.OPT_APPEND_NEWLINE
    try:
        return orjson.dumps(document, option=option)
    except orjson.JSONEncodeError:
        raw = json.dumps(document, separators=(",", ":"), sort_keys=sort_keys).encode()
        return raw + b"\n" if newline else raw


def loads(data: bytes) -> Any:
    """What `dumps` wrote, read back: orjson, or the stdlib where a number may be an int
    beyond 64 bits (orjson reads one as a float, and the value would change)."""
    if _LONG_NUMBER in data.translate(_DIGITS_AS_ZERO):
        return json.loads(data)
    return orjson.loads(data)
