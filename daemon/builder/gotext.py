"""Go's formatting, where dockerd's builder shows Go values: the `%q` of a []string and of
the healthcheck struct in history comments, and time.ParseDuration for HEALTHCHECK flags."""

from __future__ import annotations

import json
import re
from typing import Any

_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9}
_DURATION_UNITS |= {"m": 60 * 10**9, "h": 3600 * 10**9}


def quoted_list(items: list[str]) -> str:
    """Go's `%q` of a []string: `["/bin/sh" "-c" "echo hi"]`."""
    return "[" + " ".join(json.dumps(item, ensure_ascii=False) for item in items) + "]"


def _fraction(value: int, unit: int, suffix: str) -> str:
    whole, rest = divmod(value, unit)
    digits = len(str(unit)) - 1
    fraction = f".{rest:0{digits}d}".rstrip("0") if rest else ""
    return f"{whole}{fraction}{suffix}"


def duration_text(nanos: int) -> str:
    """Go's time.Duration String(): `1h2m3.5s`, `500ms`, `0s`."""
    if nanos == 0:
        return "0s"
    if nanos < 1_000:
        return f"{nanos}ns"
    if nanos < 1_000_000:
        return _fraction(nanos, 1_000, "µs")
    if nanos < 10**9:
        return _fraction(nanos, 1_000_000, "ms")
    seconds, rest = divmod(nanos, 10**9)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    text = ""
    if hours:
        text += f"{hours}h"
    if hours or minutes:
        text += f"{minutes}m"
    fraction = f".{rest:09d}".rstrip("0") if rest else ""
    return text + f"{seconds}{fraction.rstrip('.')}s"


def healthcheck_text(check: dict[str, Any]) -> str:
    """Go's `%q` of the healthcheck struct, as dockerd writes it in history."""
    retries = int(check.get("Retries") or 0)
    rune = chr(retries) if 32 <= retries < 127 and chr(retries) not in "'\\" else None
    quoted_retries = f"'{rune}'" if rune else f"'\\x{retries:02x}'"
    return "&{{{} {} {} {} {}}}".format(
        quoted_list(check.get("Test") or []),
        json.dumps(duration_text(int(check.get("Interval") or 0))),
        json.dumps(duration_text(int(check.get("Timeout") or 0))),
        json.dumps(duration_text(int(check.get("StartPeriod") or 0))),
        quoted_retries,
    )


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration of a HEALTHCHECK flag, in nanoseconds."""
    parts = re.findall(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f'time: invalid duration "{text}"')
    total = int(sum(float(n) * _DURATION_UNITS[u] for n, u in parts))
    return total
