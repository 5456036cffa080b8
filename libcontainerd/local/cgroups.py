"""A container's cgroup v1 files: its stats sample and its OOM notifications.

The sample is the same message `remote/` decodes from containerd's task metrics
(`io.containerd.cgroups.v1.Metrics`), so the daemon's stats code reads both alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..remote.gen.io.containerd.cgroups.v1 import (
    BlkIoEntry,
    BlkIoStat,
    CpuStat,
    CpuUsage,
    MemoryEntry,
    MemoryStat,
    Metrics,
    PidsStat,
    Throttle,
)
from ..types import Metrics as Sample

CGROUP_ROOT = Path("/sys/fs/cgroup")
# USER_HZ: cpuacct.stat counts clock ticks.
_NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
_MEMORY_FIELDS = {name: name for name in MemoryStat.__dataclass_fields__} | {
    "pgpgin": "pg_pg_in",
    "pgpgout": "pg_pg_out",
    "pgfault": "pg_fault",
    "pgmajfault": "pg_maj_fault",
    "hierarchical_memsw_limit": "hierarchical_swap_limit",
    "total_pgpgin": "total_pg_pg_in",
    "total_pgpgout": "total_pg_pg_out",
    "total_pgfault": "total_pg_fault",
    "total_pgmajfault": "total_pg_maj_fault",
}


def is_v2(root: Path = CGROUP_ROOT) -> bool:
    return (root / "cgroup.controllers").exists()


class Cgroup:
    """The v1 hierarchy directories of one cgroup path (the spec's `cgroupsPath`)."""

    def __init__(self, path: str, root: Path = CGROUP_ROOT) -> None:
        self.relative = path.lstrip("/")
        self.root = root

    def dir(self, controller: str) -> Path:
        return self.root / controller / self.relative

    def _read(self, controller: str, name: str) -> str:
        try:
            return (self.dir(controller) / name).read_text()
        except OSError:
            return ""

    def _int(self, controller: str, name: str) -> int:
        text = self._read(controller, name).strip()
        return int(text) if text.isdigit() else 0

    def _keyed(self, controller: str, name: str) -> dict[str, int]:
        values = {}
        for line in self._read(controller, name).splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                values[key] = int(value)
        return values

    def oom_kills(self) -> int:
        return self._keyed("memory", "memory.oom_control").get("oom_kill", 0)

    def sample(self) -> Sample:
        cpu_stat = self._keyed("cpuacct", "cpuacct.stat")
        throttle = self._keyed("cpu", "cpu.stat")
        memory = MemoryStat(
            **{
                field: value
                for key, value in self._keyed("memory", "memory.stat").items()
                if (field := _MEMORY_FIELDS.get(key)) is not None
            }
        )
        memory.usage = self._memory_entry("memory")
        memory.swap = self._memory_entry("memory.memsw")
        memory.kernel = self._memory_entry("memory.kmem")
        limit = self._read("pids", "pids.max").strip()
        metrics = Metrics(
            pids=PidsStat(
                current=self._int("pids", "pids.current"),
                limit=int(limit) if limit.isdigit() else 0,
            ),
            cpu=CpuStat(
                usage=CpuUsage(
                    total=self._int("cpuacct", "cpuacct.usage"),
                    kernel=cpu_stat.get("system", 0) * _NS_PER_TICK,
                    user=cpu_stat.get("user", 0) * _NS_PER_TICK,
                    per_cpu=[int(v) for v in self._read("cpuacct", "cpuacct.usage_percpu").split()],
                ),
                throttling=Throttle(
                    periods=throttle.get("nr_periods", 0),
                    throttled_periods=throttle.get("nr_throttled", 0),
                    throttled_time=throttle.get("throttled_time", 0),
                ),
            ),
            memory=memory,
            blkio=BlkIoStat(
                io_service_bytes_recursive=self._blkio("blkio.throttle.io_service_bytes"),
                io_serviced_recursive=self._blkio("blkio.throttle.io_serviced"),
            ),
        )
        return Sample(datetime.now(UTC), 1, metrics)

    def _memory_entry(self, prefix: str) -> MemoryEntry:
        return MemoryEntry(
            limit=self._int("memory", f"{prefix}.limit_in_bytes"),
            usage=self._int("memory", f"{prefix}.usage_in_bytes"),
            max=self._int("memory", f"{prefix}.max_usage_in_bytes"),
            failcnt=self._int("memory", f"{prefix}.failcnt"),
        )

    def _blkio(self, name: str) -> list[BlkIoEntry]:
        entries = []
        for line in self._read("blkio", name).splitlines():
            fields = line.split()
            if len(fields) == 3 and ":" in fields[0] and fields[2].isdigit():
                major, _, minor = fields[0].partition(":")
                entries.append(
                    BlkIoEntry(
                        op=fields[1].lower(),
                        major=int(major),
                        minor=int(minor),
                        value=int(fields[2]),
                    )
                )
        return entries


class OomWatch:
    """An eventfd registered on the cgroup's memory.oom_control, watched by the loop.

    The eventfd also fires when the cgroup is removed, so a wake-up counts only when the
    cgroup's `oom_kill` count grew; `check()` reports OOM kills the wake-up has not yet.
    """

    def __init__(self, cgroup: Cgroup, on_oom: Callable[[], None]) -> None:
        self._cgroup = cgroup
        self._on_oom = on_oom
        self._seen = cgroup.oom_kills()
        self._fd: int | None = None
        directory = cgroup.dir("memory")
        control = os.open(directory / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
        try:
            fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            try:
                (directory / "cgroup.event_control").write_text(f"{fd} {control}")
            except BaseException:
                os.close(fd)
                raise
        finally:
            os.close(control)
        self._fd = fd
        asyncio.get_running_loop().add_reader(fd, self._woken)

    def _woken(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(BlockingIOError):
                os.eventfd_read(self._fd)
        self.check()

    def check(self) -> None:
        count = self._cgroup.oom_kills()
        if count > self._seen:
            self._seen = count
            self._on_oom()

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
