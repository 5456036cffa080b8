"""Times as image configs carry them and as dockerd prints them.

Configs hold RFC 3339 times with up to nine fractional digits; dockerd shows
them re-formatted the way Go's RFC3339Nano does (trailing zeros dropped, `Z`
for UTC) and as Unix seconds in lists. Python's datetime stops at microseconds,
so the nanoseconds are carried separately.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

ZERO_TIME = "0001-01-01T00:00:00Z"
# What Go's zero time is in Unix seconds: the Created of an image without a date.
ZERO_UNIX = -62135596800

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$"
)


@dataclass(frozen=True)
class Timestamp:
    moment: datetime  # aware, whole seconds
    nanos: int = 0

    @property
    def unix(self) -> int:
        return int(self.moment.timestamp())

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
    if not isinstance(text, str):
        return None
    match = _RFC3339.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    nanos = int((match.group(7) or "0").ljust(9, "0"))
    zone = match.group(8)
    if zone in ("Z", "z"):
        tz: timezone = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None
    return Timestamp(moment, nanos)


def created_text(created: object) -> str:
    """The `Created` of image inspect: the config's time in Go's RFC3339Nano form."""
    stamp = parse_rfc3339(created)
    return stamp.rfc3339nano() if stamp else ZERO_TIME


def created_unix(created: object) -> int:
    """The `Created` of image lists and history: Unix seconds (Go's zero time if unset)."""
    stamp = parse_rfc3339(created)
    return stamp.unix if stamp else ZERO_UNIX


def now_rfc3339nano() -> str:
    nanos = time.time_ns()
    moment = datetime.fromtimestamp(nanos // 1_000_000_000, UTC)
    return Timestamp(moment, nanos % 1_000_000_000).rfc3339nano()


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
        return stamp.moment.timestamp() + stamp.nanos / 1e9
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"failed to parse value as time or duration: {value!r}") from None
    # Without a zone, dockerd reads the time in the daemon's local zone.
    return parsed.timestamp()
