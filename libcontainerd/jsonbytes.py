"""Compact JSON bytes: orjson, with the stdlib for what orjson refuses.

orjson is several times faster than the stdlib encoder, which was a large share of a
lifecycle's CPU (issue 13: state saves, replies, specs packed for containerd). It refuses
an int beyond 64 bits (and a lone surrogate), which the stdlib writes, so every document
that encoded before still does. It lives at the bottom layer so that libcontainerd, the
daemon and the api share it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_PLAIN = orjson.OPT_NON_STR_KEYS
# 20 digits in a row: maybe an int beyond 64 bits, which orjson would read as a float.
_LONG_NUMBER = re.compile(rb"[0-9]{20}")
_NEWLINE = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def dumps(document: Any, *, newline: bool = False) -> bytes:
    """`document` as compact JSON (no spaces, as Go's encoder writes it); with `newline`,
    one line of a JSON stream."""
    try:
        return orjson.dumps(document, option=_NEWLINE if newline else _PLAIN)
    except orjson.JSONEncodeError:
        raw = json.dumps(document, separators=(",", ":")).encode()
        return raw + b"\n" if newline else raw


def loads(data: bytes) -> Any:
    """What `dumps` wrote, read back: orjson, or the stdlib where a number may be an int
    beyond 64 bits (orjson reads one as a float, and the value would change)."""
    if _LONG_NUMBER.search(data):
        return json.loads(data)
    return orjson.loads(data)
