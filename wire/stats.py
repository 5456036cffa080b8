"""``GET /containers/{id}/stats``: the fields dockerd sends and the CLI reads, built by
``daemon/stats.py``.

The CLI computes CPU % from cpu_stats minus precpu_stats, memory from
memory_stats.usage less the page cache (``stats``) against ``limit``, and
PIDs from pids_stats.current. Values cgroup v2 cannot give stay null or out;
the ``total=False`` parts are Go structs whose fields are all omitempty.
"""

from typing import Any, Literal, NotRequired, TypedDict, cast

from wire.api_versions import STATS_OS_TYPE, ApiVersion


class PidsStats(TypedDict, total=False):
    current: int
    limit: int


class BlkioStatEntry(TypedDict):
    major: int
    minor: int
    op: str
    value: int


BlkioKey = Literal[
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
]


class BlkioStats(TypedDict, total=False):
    io_service_bytes_recursive: list[BlkioStatEntry] | None
    io_serviced_recursive: list[BlkioStatEntry] | None
    io_queue_recursive: list[BlkioStatEntry] | None
    io_service_time_recursive: list[BlkioStatEntry] | None
    io_wait_time_recursive: list[BlkioStatEntry] | None
    io_merged_recursive: list[BlkioStatEntry] | None
    io_time_recursive: list[BlkioStatEntry] | None
    sectors_recursive: list[BlkioStatEntry] | None


class CpuUsage(TypedDict):
    """Times in nanoseconds."""

    total_usage: int
    percpu_usage: NotRequired[list[int]]  # cgroup v1 only
    usage_in_kernelmode: int
    usage_in_usermode: int


class ThrottlingData(TypedDict):
    periods: int
    throttled_periods: int
    throttled_time: int


class CpuStats(TypedDict):
    cpu_usage: CpuUsage
    system_cpu_usage: NotRequired[int]
    online_cpus: NotRequired[int]
    throttling_data: ThrottlingData


class MemoryStats(TypedDict, total=False):
    usage: int
    max_usage: int  # cgroup v1 only
    stats: dict[str, int]
    failcnt: int  # cgroup v1 only
    limit: int


class NetworkStats(TypedDict):
    """One interface's counters, from the container's network namespace."""

    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int


class StatsJSON(TypedDict):
    """One sample. ``read``/``preread`` are RFC3339Nano; preread is the zero time on the
    first sample of a stream."""

    read: str
    preread: str
    pids_stats: PidsStats
    blkio_stats: BlkioStats
    num_procs: int
    storage_stats: dict[str, int]  # Windows only: an empty object on Linux
    cpu_stats: CpuStats
    precpu_stats: CpuStats
    memory_stats: MemoryStats
    name: str
    id: str
    os_type: NotRequired[str]  # API 1.52
    # A container with a network of its own (bridge networks): its interfaces but lo.
    networks: NotRequired[dict[str, NetworkStats]]


def stats_at(sample: StatsJSON, version: ApiVersion) -> StatsJSON:
    """A sample as `version` shows it: ``os_type`` after ``id`` from API 1.52."""
    if not STATS_OS_TYPE.applies(version):
        return sample
    out: dict[str, Any] = {}
    for key, value in sample.items():
        out[key] = value
        if key == "id":
            out["os_type"] = "linux"
    return cast(StatsJSON, out)
