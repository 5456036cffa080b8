"""Docker's stats JSON (``GET /containers/{id}/stats``) from containerd task metrics.

`stats_json` turns one `Metrics` sample into the `wire.stats.StatsJSON` dockerd 20.10 sends, key
order and omitted-when-zero fields included. dockerd stamps every sample with
the host's CPU time and CPU count (`read_host_cpu`) and carries the previous
sample's CPU figures along as ``precpu_stats``, from which clients compute CPU %.

On cgroup v2 the kernel has no equivalent for some v1 figures; those are left
out, not zeroed: blkio lists other than ``io_service_bytes_recursive``,
``percpu_usage``, ``max_usage`` and ``failcnt``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, cast

from daemon.smallfile import read_text
from daemon.timefmt import ZERO_TIME, rfc3339_nano
from libcontainerd.types import Metrics
from wire.stats import (
    BlkioKey,
    BlkioStatEntry,
    BlkioStats,
    CpuStats,
    CpuUsage,
    MemoryStats,
    NetworkStats,
    PidsStats,
    StatsJSON,
)

_NS_PER_SECOND = 1_000_000_000
_NS_PER_USEC = 1_000

_BLKIO_KEYS: tuple[tuple[BlkioKey, str], ...] = (
    ("io_service_bytes_recursive", "io_service_bytes_recursive"),
    ("io_serviced_recursive", "io_serviced_recursive"),
    ("io_queue_recursive", "io_queued_recursive"),
    ("io_service_time_recursive", "io_service_time_recursive"),
    ("io_wait_time_recursive", "io_wait_time_recursive"),
    ("io_merged_recursive", "io_merged_recursive"),
    ("io_time_recursive", "io_time_recursive"),
    ("sectors_recursive", "sectors_recursive"),
)

# memory.stat names (as Docker reports them) -> fields of the cgroup v1 message.
_V1_MEMORY_STATS = {
    "cache": "cache",
    "rss": "rss",
    "rss_huge": "rss_huge",
    "mapped_file": "mapped_file",
    "dirty": "dirty",
    "writeback": "writeback",
    "pgpgin": "pg_pg_in",
    "pgpgout": "pg_pg_out",
    "pgfault": "pg_fault",
    "pgmajfault": "pg_maj_fault",
    "inactive_anon": "inactive_anon",
    "active_anon": "active_anon",
    "inactive_file": "inactive_file",
    "active_file": "active_file",
    "unevictable": "unevictable",
    "hierarchical_memory_limit": "hierarchical_memory_limit",
    "hierarchical_memsw_limit": "hierarchical_swap_limit",
    "total_cache": "total_cache",
    "total_rss": "total_rss",
    "total_rss_huge": "total_rss_huge",
    "total_mapped_file": "total_mapped_file",
    "total_dirty": "total_dirty",
    "total_writeback": "total_writeback",
    "total_pgpgin": "total_pg_pg_in",
    "total_pgpgout": "total_pg_pg_out",
    "total_pgfault": "total_pg_fault",
    "total_pgmajfault": "total_pg_maj_fault",
    "total_inactive_anon": "total_inactive_anon",
    "total_active_anon": "total_active_anon",
    "total_inactive_file": "total_inactive_file",
    "total_active_file": "total_active_file",
    "total_unevictable": "total_unevictable",
}

# On v2 the message fields carry the memory.stat names unchanged.
_V2_MEMORY_STATS = (
    "anon",
    "file",
    "kernel_stack",
    "slab",
    "sock",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "anon_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "pgfault",
    "pgmajfault",
    "workingset_refault",
    "workingset_activate",
    "workingset_nodereclaim",
    "pgrefill",
    "pgscan",
    "pgsteal",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
)


@dataclass(frozen=True, slots=True)
class HostCPU:
    """The host side of a sample: total CPU time in ns, and how many CPUs are online."""

    system_usage: int
    online_cpus: int


def read_host_cpu(proc_stat: str = "/proc/stat") -> HostCPU:
    """dockerd's system_cpu_usage: the first seven fields of the ``cpu`` line, in ns."""
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    total_ticks = 0
    online = 0
    # os calls, not open(): at every stats sample (daemon/smallfile.py).
    for line in read_text(proc_stat).splitlines():
        if not line.startswith("cpu"):
            # The cpu lines come first; the rest (intr holds a figure per interrupt)
            # is not split for nothing at every sample.
            break
        fields = line.split()
        if fields[0] != "cpu":
            online += 1
            continue
        if len(fields) < 8:
            raise ValueError("invalid number of cpu fields")
        # user nice system idle iowait irq softirq; steal and guest are left out.
        total_ticks = sum(int(value) for value in fields[1:8])
    return HostCPU(total_ticks * _NS_PER_SECOND // ticks_per_second, online)


def host_memory_total(meminfo: str = "/proc/meminfo") -> int:
    """Bytes of RAM on the host; the memory limit reported when a container has none."""
    with open(meminfo) as info:
        for line in info:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def stats_json(
    sample: Metrics,
    *,
    name: str,
    container_id: str,
    host: HostCPU,
    machine_memory: int,
    previous: StatsJSON | None = None,
) -> StatsJSON:
    """One stats object; `previous` is the one returned for the sample before, if any."""
    if sample.cgroup_version == 2:
        pids, blkio, cpu, memory = _from_v2(sample.data, machine_memory, host)
    else:
        pids, blkio, cpu, memory = _from_v1(sample.data, machine_memory, host)
    return {
        "read": rfc3339_nano(sample.timestamp),
        "preread": previous["read"] if previous else ZERO_TIME,
        "pids_stats": pids,
        "blkio_stats": blkio,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "precpu_stats": previous["cpu_stats"] if previous else _cpu_stats(0, None, 0, 0, 0, 0, 0),
        "memory_stats": memory,
        "name": name,
        "id": container_id,
    }


def empty_stats_json(
    *, name: str, container_id: str, previous: StatsJSON | None = None
) -> StatsJSON:
    """What dockerd sends for a container it cannot sample (not running): zeroes.

    Go writes its zero StatsJSON: every blkio list null, no host CPU figures.
    """
    blkio: BlkioStats = {}
    for key, _ in _BLKIO_KEYS:
        blkio[key] = None
    return {
        "read": ZERO_TIME,
        "preread": previous["read"] if previous else ZERO_TIME,
        "pids_stats": {},
        "blkio_stats": blkio,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu_stats(0, None, 0, 0, 0, 0, 0),
        "precpu_stats": previous["cpu_stats"] if previous else _cpu_stats(0, None, 0, 0, 0, 0, 0),
        "memory_stats": {},
        "name": name,
        "id": container_id,
    }


_Parts = tuple[PidsStats, BlkioStats, CpuStats, MemoryStats]


def _pids(data: Any) -> PidsStats:
    pids: PidsStats = {}
    if data is not None and data.pids is not None:
        # omitempty: a zero figure is left out.
        if data.pids.current:
            pids["current"] = data.pids.current
        if data.pids.limit:
            pids["limit"] = data.pids.limit
    return pids


def _from_v1(data: Any, machine_memory: int, host: HostCPU) -> _Parts:
    blkio: BlkioStats = {}
    source = data.blkio if data is not None else None
    for key, field in _BLKIO_KEYS:
        # dockerd copies each list when blkio is there (so [] when empty), else null.
        blkio[key] = None if source is None else _blkio_entries(getattr(source, field))

    # `is not None`, not truth: a message's truth (betterproto2) compares each of its
    # fields with its default under catch_warnings, ~10 times a sample (issue 13); an
    # all-default message gives the same zeroes either way.
    cpu_data = data.cpu if data is not None else None
    usage = cpu_data.usage if cpu_data is not None else None
    throttle = cpu_data.throttling if cpu_data is not None else None
    cpu = _cpu_stats(
        usage.total if usage is not None else 0,
        list(usage.per_cpu) if usage is not None else None,
        usage.kernel if usage is not None else 0,
        usage.user if usage is not None else 0,
        throttle.periods if throttle is not None else 0,
        throttle.throttled_periods if throttle is not None else 0,
        throttle.throttled_time if throttle is not None else 0,
        host,
    )

    memory: MemoryStats = {}
    mem = data.memory if data is not None else None
    if mem is not None:
        raw = {key: getattr(mem, field) for key, field in _V1_MEMORY_STATS.items()}
        entry = mem.usage
        if entry is not None and entry.usage:
            memory["usage"] = entry.usage
        if entry is not None and entry.max:
            memory["max_usage"] = entry.max
        memory["stats"] = dict(sorted(raw.items()))
        if entry is not None and entry.failcnt:
            memory["failcnt"] = entry.failcnt
        if limit := _limit(entry.limit if entry is not None else 0, machine_memory):
            memory["limit"] = limit
    return _pids(data), blkio, cpu, memory


def _from_v2(data: Any, machine_memory: int, host: HostCPU) -> _Parts:
    service_bytes: list[BlkioStatEntry] = []
    if data is not None and data.io is not None:
        for entry in data.io.usage:
            service_bytes.append(_blkio_entry(entry.major, entry.minor, "read", entry.rbytes))
            service_bytes.append(_blkio_entry(entry.major, entry.minor, "write", entry.wbytes))
    blkio: BlkioStats = {"io_service_bytes_recursive": service_bytes or None}

    stat = data.cpu if data is not None else None
    if stat is None:  # not its truth: see _from_v1
        cpu = _cpu_stats(0, None, 0, 0, 0, 0, 0, host)
    else:
        cpu = _cpu_stats(
            stat.usage_usec * _NS_PER_USEC,
            None,
            stat.system_usec * _NS_PER_USEC,
            stat.user_usec * _NS_PER_USEC,
            stat.nr_periods,
            stat.nr_throttled,
            stat.throttled_usec * _NS_PER_USEC,
            host,
        )

    memory: MemoryStats = {}
    mem = data.memory if data is not None else None
    if mem is not None:
        if mem.usage:
            memory["usage"] = mem.usage
        memory["stats"] = {key: getattr(mem, key) for key in sorted(_V2_MEMORY_STATS)}
        if limit := _limit(mem.usage_limit, machine_memory):
            memory["limit"] = limit
    return _pids(data), blkio, cpu, memory


def _cpu_stats(
    total: int,
    per_cpu: list[int] | None,
    kernel: int,
    user: int,
    periods: int,
    throttled_periods: int,
    throttled_time: int,
    host: HostCPU | None = None,
) -> CpuStats:
    # Partial literals, completed below: keys are added in dockerd's order.
    usage: CpuUsage = {"total_usage": total}  # type: ignore[typeddict-item]
    if per_cpu:
        usage["percpu_usage"] = per_cpu
    usage["usage_in_kernelmode"] = kernel
    usage["usage_in_usermode"] = user
    cpu: CpuStats = {"cpu_usage": usage}  # type: ignore[typeddict-item]
    # The host's figures (omitempty) sit between the usage and the throttling data.
    if host is not None and host.system_usage:
        cpu["system_cpu_usage"] = host.system_usage
    if host is not None and host.online_cpus:
        cpu["online_cpus"] = host.online_cpus
    cpu["throttling_data"] = {
        "periods": periods,
        "throttled_periods": throttled_periods,
        "throttled_time": throttled_time,
    }
    return cpu


def _blkio_entries(entries: Any) -> list[BlkioStatEntry]:
    return [_blkio_entry(e.major, e.minor, e.op, e.value) for e in entries]


def _blkio_entry(major: int, minor: int, op: str, value: int) -> BlkioStatEntry:
    return {"major": major, "minor": minor, "op": op, "value": value}


def _limit(limit: int, machine_memory: int) -> int:
    # An unlimited cgroup reports a huge number; dockerd shows the host's RAM instead.
    if machine_memory > 0 and limit > machine_memory:
        return machine_memory
    return limit


# /proc/net/dev's columns after the interface name, in order; the ones dockerd reports.
_NET_DEV_COLUMNS = {0: "rx_bytes", 1: "rx_packets", 2: "rx_errors", 3: "rx_dropped",
                    8: "tx_bytes", 9: "tx_packets", 10: "tx_errors", 11: "tx_dropped"}  # fmt: skip


def parse_net_dev(text: str) -> dict[str, NetworkStats]:
    """The counters of each interface in a /proc/net/dev table, but the loopback."""
    interfaces: dict[str, NetworkStats] = {}
    for line in text.splitlines()[2:]:  # two header lines
        name, sep, rest = line.partition(":")
        name = name.strip()
        fields = rest.split()
        if not sep or name == "lo" or len(fields) < 16:
            continue
        counters = {key: int(fields[index]) for index, key in _NET_DEV_COLUMNS.items()}
        interfaces[name] = cast(NetworkStats, counters)
    return interfaces


def read_network_stats(pid: int) -> dict[str, NetworkStats] | None:
    """The interfaces of the network namespace process `pid` is in; None if it is gone."""
    try:
        with open(f"/proc/{pid}/net/dev") as table:
            return parse_net_dev(table.read())
    except OSError:
        return None
