"""CPU seconds and resident memory of a process, from /proc (Linux only)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cpu:
    """CPU of a process in clock ticks (kept whole, so differences are exact): its own
    (user + system), and with the children it waited for; and of its own, the system part
    (time in the kernel on its behalf: syscalls, page faults)."""

    own_ticks: int
    all_ticks: int
    system_ticks: int = 0

    @property
    def own(self) -> float:
        return self.own_ticks / TICKS

    @property
    def with_children(self) -> float:
        return self.all_ticks / TICKS

    @property
    def system(self) -> float:
        return self.system_ticks / TICKS

    @property
    def user(self) -> float:
        return (self.own_ticks - self.system_ticks) / TICKS

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.own_ticks - other.own_ticks,
            self.all_ticks - other.all_ticks,
            self.system_ticks - other.system_ticks,
        )

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.own_ticks + other.own_ticks,
            self.all_ticks + other.all_ticks,
            self.system_ticks + other.system_ticks,
        )


ZERO = Cpu(0, 0)


def cpu(pid: int) -> Cpu:
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return Cpu(utime + stime, utime + stime + cutime + cstime, stime)


async def settled(pid: int, quiet: float = 0.3, deadline: float = 10.0) -> bool:
    """Wait until `pid` spends no CPU for `quiet` seconds (or `deadline` passes): work a
    daemon does on its own after it answers (deferred set-up) is then behind it."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + deadline
    last = cpu(pid).own_ticks
    while loop.time() < ends:
        await asyncio.sleep(quiet)
        now = cpu(pid).own_ticks
        if now == last:
            return True
        last = now
    return False


@dataclass(frozen=True)
class Sched:
    """Nanoseconds the threads of a process have run on a CPU, and have been runnable
    but waiting for one (schedstat): on a shared machine the waits are the part of a
    request's latency that is the machine's, not the daemon's."""

    run_ns: int
    wait_ns: int

    def __sub__(self, other: Sched) -> Sched:
        return Sched(self.run_ns - other.run_ns, self.wait_ns - other.wait_ns)


def sched(pid: int) -> Sched:
    run = wait = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                fields = stat.read().split()
            run, wait = run + int(fields[0]), wait + int(fields[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return Sched(run, wait)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def runtime_ns(pid: int) -> int:
    """Nanoseconds `pid`'s threads have run on a CPU (the scheduler's own count, from
    /proc/PID/task/*/schedstat): exact where `cpu`'s clock ticks are 10 ms apart, so short
    stretches of work can be compared."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        # A thread that just ended is not counted.
        with (
            contextlib.suppress(FileNotFoundError),
            open(f"/proc/{pid}/task/{task}/schedstat") as schedstat,
        ):
            total += int(schedstat.read().split()[0])
    return total
