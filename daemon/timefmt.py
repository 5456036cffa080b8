"""Times as Go writes and reads them: RFC 3339 with nanoseconds, durations, filter times.

Go's RFC3339Nano drops trailing zeros of the fraction and writes `Z` for UTC;
some outputs (``docker logs -t``, container state times) keep all nine digits.
Python's datetime stops at microseconds, so nanoseconds travel as integers or
beside a whole-second datetime (`Timestamp`).
"""

from __future__ import annotations

import calendar
import functools
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from .errors import InvalidParameter

ZERO_TIME = "0001-01-01T00:00:00Z"
# What Go's zero time is in Unix seconds: the Created of an image without a date.
ZERO_UNIX = -62135596800

NS_PER_SECOND = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})([Tt ])(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))"
)


def rfc3339_nano(value: int | datetime | None, *, fixed: bool = False) -> str:
    """UTC time as Go's RFC3339Nano (trailing zeros trimmed) or, when `fixed`, 9 digits.

    `value` is nanoseconds since the epoch or a datetime (naive means UTC); None
    is Go's zero time.
    """
    if value is None:
        return ZERO_TIME
    if isinstance(value, datetime):
        when = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        value = (when - _EPOCH) // _MICROSECOND * 1000
    seconds, nanos = divmod(value, NS_PER_SECOND)
    stamp = _whole_second(seconds)
    if fixed:
        return f"{stamp}.{nanos:09d}Z"
    if nanos == 0:
        return f"{stamp}Z"
    return f"{stamp}.{nanos:09d}".rstrip("0") + "Z"


# The last second formatted: times on the hot paths (a state change's StartedAt or
# FinishedAt, a stats sample's "read", a log line's time) mostly fall in the second
# before, and gmtime + strftime were most of a stamp's cost (issue 13).
_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def _whole_second(seconds: int) -> str:
    global _last_second
    last, stamp = _last_second
    if seconds != last:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last_second = (seconds, stamp)
    return stamp


def now_rfc3339_nano(*, fixed: bool = False) -> str:
    return rfc3339_nano(time.time_ns(), fixed=fixed)


@dataclass(frozen=True)
class _Fields:
    moment: tuple[int, int, int, int, int, int]  # year .. second
    nanos: int
    offset: int | None  # seconds east of UTC; None for `Z`


def _fields(text: str, *, space: bool) -> _Fields | None:
    match = _RFC3339.fullmatch(text)
    if match is None or (match.group(4) == " " and not space):
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 5, 6, 7))
    nanos = int((match.group(8) or "0").ljust(9, "0"))
    offset = None
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        offset = -offset if match.group(9) == "-" else offset
    return _Fields((year, month, day, hour, minute, second), nanos, offset)


def parse_rfc3339_nano(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time; ValueError if it is not one."""
    fields = _fields(text, space=False)
    if fields is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    seconds = calendar.timegm((*fields.moment, 0, 0, 0)) - (fields.offset or 0)
    return seconds * NS_PER_SECOND + fields.nanos


@dataclass(frozen=True)
class Timestamp:
    """A time with its own zone: image configs keep the zone they were written in."""

    moment: datetime  # aware, whole seconds
    nanos: int = 0

    @property
    def unix(self) -> int:
        return int(self.moment.timestamp())

    @property
    def seconds(self) -> float:
        """Unix seconds with the fraction."""
        return self.moment.timestamp() + self.nanos / 1e9

    def rfc3339nano(self) -> str:
        text = self.moment.strftime("%Y-%m-%dT%H:%M:%S")
        if self.nanos:
            text += "." + f"{self.nanos:09d}".rstrip("0")
        offset = self.moment.utcoffset() or timedelta(0)
        if not offset:
            return text + "Z"
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_rfc3339(text: object) -> Timestamp | None:
    """An RFC 3339 time (a space may stand for the `T`) with its zone; None if it is not one."""
    if not isinstance(text, str):
        return None
    return _parse_rfc3339(text)


# Remembered: a container list parses every container's Created and StartedAt again on
# each call, and that was a quarter of its CPU with 200 containers (issue 13). A Timestamp
# is immutable; the bound keeps the memory small (about 200 bytes an entry).
@functools.lru_cache(maxsize=1024)
def _parse_rfc3339(text: str) -> Timestamp | None:
    fields = _fields(text.strip(), space=True)
    if fields is None:
        return None
    tz = UTC if fields.offset is None else timezone(timedelta(seconds=fields.offset))
    try:
        moment = datetime(*fields.moment, tzinfo=tz)
    except ValueError:
        return None
    return Timestamp(moment, fields.nanos)


def created_text(created: object) -> str:
    """The `Created` of image inspect: the config's time in Go's RFC3339Nano form."""
    stamp = parse_rfc3339(created)
    return stamp.rfc3339nano() if stamp else ZERO_TIME


def created_unix(created: object) -> int:
    """The `Created` of image lists and history: Unix seconds (Go's zero time if unset)."""
    stamp = parse_rfc3339(created)
    return stamp.unix if stamp else ZERO_UNIX


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def format_go_duration(seconds: float) -> str:
    """Go's time.Duration String() (`1m30s`, `500ms`), for durations of zero and up."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return f"{_trim(nanos / size)}{unit}"
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{_trim(rest / 1e9)}s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def parse_go_duration(text: str) -> float | None:
    """Seconds of a Go duration string (`10m`, `1h30m`, `-2s`), or None."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if not body:
        return None
    position, total = 0, 0.0
    while position < len(body):
        part = _DURATION_PART.match(body, position)
        if part is None:
            return None
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        position = part.end()
    return sign * total


def parse_timestamp(value: str, now: float | None = None) -> float:
    """A filter time (`until`, `since`): Unix seconds, a Go duration ago, or a date/time.

    Raises ValueError for anything else.
    """
    now = time.time() if now is None else now
    duration = parse_go_duration(value)
    if duration is not None and not re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        return now - duration
    if re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        return float(value)
    stamp = parse_rfc3339(value)
    if stamp is not None:
        return stamp.seconds
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"failed to parse value as time or duration: {value!r}") from None
    # Without a zone, dockerd reads the time in the daemon's local zone.
    return parsed.timestamp()


def parse_event_time(value: str | float | None) -> int | None:
    """``since``/``until`` as the API takes them ("<seconds>[.<fraction>]") in ns; None if unset."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return round(value * NS_PER_SECOND)
    seconds_text, _, fraction = value.partition(".")
    seconds = _go_parse_int(seconds_text)
    nanos = 0
    if fraction:
        digits = _go_parse_int(fraction)
        # Go scales the fraction by its number of digits, whatever the sign.
        if len(fraction) <= 9:
            nanos = digits * 10 ** (9 - len(fraction))
        else:
            nanos = int(digits / 10 ** (len(fraction) - 9))
    return seconds * NS_PER_SECOND + nanos


def _go_parse_int(text: str) -> int:
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        raise InvalidParameter(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    return int(text)
