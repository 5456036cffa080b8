"""Signal names as Docker accepts them in StopSignal: "SIGTERM", "term", "15", "RTMIN+3"."""

from __future__ import annotations

import signal

from .errors import SpecError

DEFAULT_STOP_SIGNAL = "SIGTERM"
_RT_SPAN = 15  # dockerd names RTMIN..RTMIN+15 and RTMAX-14..RTMAX


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


def parse_signal(value: str) -> int:
    """The number of `value`; SpecError `Invalid signal: X` as dockerd says it."""
    if value.isdigit():
        number = int(value)
        if number == 0:
            raise SpecError(f"Invalid signal: {value}")
        return number
    number_by_name = _SIGNALS.get(value.upper().removeprefix("SIG"))
    if number_by_name is None:
        raise SpecError(f"Invalid signal: {value}")
    return number_by_name
