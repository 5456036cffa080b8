"""CPU seconds and resident memory of a process, from /proc (Linux only)."""

from __future__ import annotations

import os
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cpu:
    """Seconds of CPU: the process's own (user + system), and with its waited-for children."""

    own: float
    with_children: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.own - other.own, self.with_children - other.with_children)

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(self.own + other.own, self.with_children + other.with_children)


ZERO = Cpu(0.0, 0.0)


def cpu(pid: int) -> Cpu:
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(f) / TICKS for f in fields[11:15])
    return Cpu(utime + stime, utime + stime + cutime + cstime)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
