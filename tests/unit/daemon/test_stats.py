"""Docker stats JSON from cgroup v1 and v2 metrics."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from daemon.stats import (
    HostCPU,
    empty_stats_json,
    host_memory_total,
    parse_net_dev,
    read_host_cpu,
    stats_json,
)
from daemon.timefmt import ZERO_TIME
from libcontainerd.remote.gen.io.containerd.cgroups import v1, v2
from libcontainerd.types import Metrics
from tests.support.dockerd import STATS_KEYS
from wire.stats import StatsJSON

HOST = HostCPU(system_usage=123_450_000_000, online_cpus=4)
MACHINE_MEMORY = 8 * 1024**3
UNLIMITED = 9223372036854771712
WHEN = datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=UTC)

BLKIO_KEYS = [
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
]
V1_MEMORY_KEYS = sorted(
    [
        "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout",
        "pgfault", "pgmajfault", "inactive_anon", "active_anon", "inactive_file", "active_file",
        "unevictable", "hierarchical_memory_limit", "hierarchical_memsw_limit", "total_cache",
        "total_rss", "total_rss_huge", "total_mapped_file", "total_dirty", "total_writeback",
        "total_pgpgin", "total_pgpgout", "total_pgfault", "total_pgmajfault",
        "total_inactive_anon", "total_active_anon", "total_inactive_file", "total_active_file",
        "total_unevictable",
    ]
)  # fmt: skip
V2_MEMORY_KEYS = sorted(
    [
        "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
        "file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file",
        "active_file", "unevictable", "slab_reclaimable", "slab_unreclaimable", "pgfault",
        "pgmajfault", "workingset_refault", "workingset_activate", "workingset_nodereclaim",
        "pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree",
        "pglazyfreed", "thp_fault_alloc", "thp_collapse_alloc",
    ]
)  # fmt: skip


def v1_metrics(limit: int = 64 * 1024**2) -> v1.Metrics:
    entry = v1.BlkIoEntry
    return v1.Metrics(
        pids=v1.PidsStat(current=3, limit=0),
        cpu=v1.CpuStat(
            usage=v1.CpuUsage(total=5_000, kernel=1_000, user=3_000, per_cpu=[2_000, 3_000]),
            throttling=v1.Throttle(periods=10, throttled_periods=2, throttled_time=777),
        ),
        memory=v1.MemoryStat(
            cache=4096,
            rss=8192,
            pg_pg_in=11,
            total_pg_maj_fault=5,
            hierarchical_swap_limit=99,
            usage=v1.MemoryEntry(limit=limit, usage=12288, max=20000, failcnt=1),
        ),
        blkio=v1.BlkIoStat(
            io_service_bytes_recursive=[
                entry(op="Read", major=8, minor=0, value=4096),
                entry(op="Write", major=8, minor=0, value=512),
                entry(op="Total", major=8, minor=0, value=4608),
            ],
            io_serviced_recursive=[entry(op="Read", major=8, minor=0, value=1)],
        ),
    )


def v2_metrics(limit: int = UNLIMITED) -> v2.Metrics:
    return v2.Metrics(
        pids=v2.PidsStat(current=2, limit=100),
        cpu=v2.CpuStat(
            usage_usec=7, user_usec=4, system_usec=3, nr_periods=5, nr_throttled=1, throttled_usec=2
        ),
        memory=v2.MemoryStat(anon=100, file=200, pgfault=3, usage=300, usage_limit=limit),
        io=v2.IoStat(usage=[v2.IoEntry(major=254, minor=0, rbytes=10, wbytes=20, rios=1, wios=2)]),
        memory_events=v2.MemoryEvents(oom=1),
    )


def convert(data: Any, version: int, previous: StatsJSON | None = None) -> StatsJSON:
    return stats_json(
        Metrics(WHEN, version, data),
        name="/web",
        container_id="abc123",
        host=HOST,
        machine_memory=MACHINE_MEMORY,
        previous=previous,
    )


def test_v1_sample() -> None:
    stats = convert(v1_metrics(), 1)
    assert list(stats) == list(STATS_KEYS)
    assert stats["read"] == "2024-05-06T07:08:09.12Z"
    assert stats["preread"] == ZERO_TIME
    assert stats["name"] == "/web" and stats["id"] == "abc123"
    assert stats["num_procs"] == 0 and stats["storage_stats"] == {}
    assert stats["pids_stats"] == {"current": 3}
    blkio = stats["blkio_stats"]
    assert list(blkio) == BLKIO_KEYS
    assert blkio["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 512},
        {"major": 8, "minor": 0, "op": "Total", "value": 4608},
    ]
    assert blkio["io_serviced_recursive"] == [{"major": 8, "minor": 0, "op": "Read", "value": 1}]
    assert blkio["sectors_recursive"] == []
    assert stats["cpu_stats"] == {
        "cpu_usage": {
            "total_usage": 5_000,
            "percpu_usage": [2_000, 3_000],
            "usage_in_kernelmode": 1_000,
            "usage_in_usermode": 3_000,
        },
        "system_cpu_usage": 123_450_000_000,
        "online_cpus": 4,
        "throttling_data": {"periods": 10, "throttled_periods": 2, "throttled_time": 777},
    }
    assert list(stats["cpu_stats"]) == [
        "cpu_usage",
        "system_cpu_usage",
        "online_cpus",
        "throttling_data",
    ]
    assert stats["precpu_stats"] == {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    memory = stats["memory_stats"]
    assert list(memory) == ["usage", "max_usage", "stats", "failcnt", "limit"]
    assert memory["usage"] == 12288 and memory["max_usage"] == 20000
    assert memory["failcnt"] == 1 and memory["limit"] == 64 * 1024**2
    assert list(memory["stats"]) == V1_MEMORY_KEYS
    assert memory["stats"]["cache"] == 4096
    assert memory["stats"]["pgpgin"] == 11
    assert memory["stats"]["total_pgmajfault"] == 5
    assert memory["stats"]["hierarchical_memsw_limit"] == 99
    assert memory["stats"]["dirty"] == 0


def test_v1_unlimited_memory_reports_host_memory() -> None:
    stats = convert(v1_metrics(limit=UNLIMITED), 1)
    assert stats["memory_stats"]["limit"] == MACHINE_MEMORY


def test_v1_missing_sections() -> None:
    stats = convert(v1.Metrics(), 1)
    assert stats["pids_stats"] == {}
    assert stats["blkio_stats"] == dict.fromkeys(BLKIO_KEYS)
    assert stats["memory_stats"] == {}
    assert stats["cpu_stats"]["cpu_usage"] == {
        "total_usage": 0,
        "usage_in_kernelmode": 0,
        "usage_in_usermode": 0,
    }


def test_v2_sample_leaves_out_what_v2_lacks() -> None:
    stats = convert(v2_metrics(), 2)
    assert list(stats) == list(STATS_KEYS)
    assert stats["pids_stats"] == {"current": 2, "limit": 100}
    assert stats["blkio_stats"] == {
        "io_service_bytes_recursive": [
            {"major": 254, "minor": 0, "op": "read", "value": 10},
            {"major": 254, "minor": 0, "op": "write", "value": 20},
        ]
    }
    assert stats["cpu_stats"] == {
        "cpu_usage": {
            "total_usage": 7_000,
            "usage_in_kernelmode": 3_000,
            "usage_in_usermode": 4_000,
        },
        "system_cpu_usage": 123_450_000_000,
        "online_cpus": 4,
        "throttling_data": {"periods": 5, "throttled_periods": 1, "throttled_time": 2_000},
    }
    memory = stats["memory_stats"]
    assert list(memory) == ["usage", "stats", "limit"]
    assert memory["usage"] == 300
    assert memory["limit"] == MACHINE_MEMORY
    assert list(memory["stats"]) == V2_MEMORY_KEYS
    assert memory["stats"]["anon"] == 100 and memory["stats"]["file"] == 200
    assert memory["stats"]["pgfault"] == 3 and memory["stats"]["shmem"] == 0


def test_v2_limit_and_empty_io() -> None:
    data = v2_metrics(limit=512 * 1024**2)
    data.io = v2.IoStat(usage=[])
    stats = convert(data, 2)
    assert stats["memory_stats"]["limit"] == 512 * 1024**2
    assert stats["blkio_stats"] == {"io_service_bytes_recursive": None}


def test_previous_sample_becomes_pre_fields() -> None:
    first = convert(v2_metrics(), 2)
    second = convert(v2_metrics(), 2, previous=first)
    assert second["preread"] == first["read"]
    assert second["precpu_stats"] == first["cpu_stats"]


def test_read_time_formats() -> None:
    whole = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    stats = stats_json(
        Metrics(whole, 2, None),
        name="/x",
        container_id="i",
        host=HostCPU(0, 0),
        machine_memory=0,
    )
    assert stats["read"] == "2024-01-02T03:04:05Z"
    # Zero host figures are omitted, as Go's omitempty does.
    assert list(stats["cpu_stats"]) == ["cpu_usage", "throttling_data"]
    assert stats["blkio_stats"] == {"io_service_bytes_recursive": None}
    assert stats["memory_stats"] == {}


def test_host_cpu_from_proc_stat(tmp_path: Path) -> None:
    fake = tmp_path / "stat"
    fake.write_text(
        "cpu  100 5 50 1000 10 1 2 7 0 0\n"
        "cpu0 50 2 25 500 5 1 1 3 0 0\n"
        "cpu1 50 3 25 500 5 0 1 4 0 0\n"
        "intr 12345\nctxt 999\n"
    )
    ticks = os.sysconf("SC_CLK_TCK")
    host = read_host_cpu(str(fake))
    assert host == HostCPU((100 + 5 + 50 + 1000 + 10 + 1 + 2) * 1_000_000_000 // ticks, 2)
    real = read_host_cpu()
    assert real.online_cpus >= 1 and real.system_usage > 0


def test_bad_proc_stat(tmp_path: Path) -> None:
    fake = tmp_path / "stat"
    fake.write_text("cpu 1 2 3\n")
    with pytest.raises(ValueError, match="invalid number of cpu fields"):
        read_host_cpu(str(fake))


def test_host_memory() -> None:
    assert host_memory_total() > 0


def test_empty_stats_are_go_zero_values_with_name_and_id() -> None:
    empty = empty_stats_json(name="/x", container_id="abc")
    assert list(empty) == list(STATS_KEYS)
    assert empty["read"] == empty["preread"] == ZERO_TIME
    assert empty["pids_stats"] == empty["memory_stats"] == empty["storage_stats"] == {}
    assert len(empty["blkio_stats"]) == 8 and set(empty["blkio_stats"].values()) == {None}
    assert "system_cpu_usage" not in empty["cpu_stats"]
    assert (empty["name"], empty["id"]) == ("/x", "abc")
    # While streaming, the sample before still becomes the "pre" figures.
    later = empty_stats_json(name="/x", container_id="abc", previous={"read": "t", "cpu_stats": 1})
    assert (later["preread"], later["precpu_stats"]) == ("t", 1)


# /proc/net/dev as the kernel writes it (lines joined here to stay within the width).
NET_DEV = "\n".join(
    [
        "Inter-|   Receive                                 |  Transmit",
        " face |bytes packets errs drop fifo frame compressed multicast|bytes packets ...",
        "    lo: 140 2 0 0 0 0 0 0 140 2 0 0 0 0 0 0",
        "  eth0: 1296 16 1 2 0 0 0 0 656 8 3 4 0 0 0 0",
    ]
)


def test_network_counters_of_every_interface_but_loopback() -> None:
    assert parse_net_dev(NET_DEV) == {
        "eth0": {
            "rx_bytes": 1296,
            "rx_packets": 16,
            "rx_errors": 1,
            "rx_dropped": 2,
            "tx_bytes": 656,
            "tx_packets": 8,
            "tx_errors": 3,
            "tx_dropped": 4,
        }
    }
    assert parse_net_dev("") == {}
