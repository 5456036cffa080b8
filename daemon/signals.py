"""Signal names and numbers as Docker accepts them: `KILL`, `SIGKILL`, `9`, `RTMIN+3`.

One table serves every place a signal is named (kill, stop, StopSignal at
create), so a signal accepted at create is one that `docker stop` can send.
"""

from __future__ import annotations

import signal

from .errors import InvalidParameter

_RT_SPAN = 15  # dockerd names RTMIN..RTMIN+15 and RTMAX-14..RTMAX
# dockerd parses a number as an unsigned byte; 0 is no signal.
_MAX_NUMBER = 255


def _signal_table() -> dict[str, int]:
    table = {s.name.removeprefix("SIG"): int(s) for s in signal.Signals}
    low, high = int(signal.SIGRTMIN), int(signal.SIGRTMAX)
    table["RTMIN"], table["RTMAX"] = low, high
    for offset in range(1, _RT_SPAN + 1):
        table[f"RTMIN+{offset}"] = low + offset
    for offset in range(1, _RT_SPAN):
        table[f"RTMAX-{offset}"] = high - offset
    return table


_SIGNALS = _signal_table()


def signal_number(value: str | int) -> int | None:
    """The number of a signal name or number; None when dockerd would not accept it."""
    if isinstance(value, int):
        number: int | None = value
    elif value.isascii() and value.isdigit():  # int() refuses "¹", isdigit() not
        number = int(value)
    else:
        number = _SIGNALS.get(value.upper().removeprefix("SIG"))
    return number if number is not None and 0 < number <= _MAX_NUMBER else None


def parse_signal(value: str | int | None, default: int = signal.SIGKILL) -> int:
    """The number of `value` (`default` when empty); `Invalid signal: X` as dockerd says it."""
    if value is None or value == "":
        return default
    number = signal_number(value)
    if number is None:
        raise InvalidParameter(f"Invalid signal: {value}")
    return number
