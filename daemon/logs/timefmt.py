"""RFC 3339 timestamps with nanoseconds, as Go's time package writes and reads them."""

from __future__ import annotations

import calendar
import re
import time

_NS = 1_000_000_000

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def format_rfc3339_nano(time_ns: int, *, fixed: bool = False) -> str:
    """UTC time as Go's RFC3339Nano (trailing zeros trimmed) or, when `fixed`, 9 digits.

    The json-file driver writes the trimmed form; ``docker logs -t`` prints the
    fixed one so that columns line up.
    """
    seconds, nanos = divmod(time_ns, _NS)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fixed:
        return f"{stamp}.{nanos:09d}Z"
    if nanos == 0:
        return f"{stamp}Z"
    return f"{stamp}.{nanos:09d}".rstrip("0") + "Z"


def parse_rfc3339_nano(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time; ValueError if it is not one."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction = match.group(7) or ""
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        seconds -= offset if match.group(9) == "+" else -offset
    return seconds * _NS + int(fraction.ljust(9, "0") or "0")
