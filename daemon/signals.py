"""Signal names and numbers as Docker accepts them (`KILL`, `SIGKILL`, `9`)."""

from __future__ import annotations

import signal

from .errors import InvalidParameter


def parse_signal(value: str | int | None, default: int = signal.SIGKILL) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, int):
        number = value
    elif value.isdigit():
        number = int(value)
    else:
        name = value.upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        try:
            number = int(signal.Signals[name])
        except KeyError:
            raise InvalidParameter(f"Invalid signal: {value}") from None
    if number <= 0 or number > 64:
        raise InvalidParameter(f"Invalid signal: {value}")
    return number
