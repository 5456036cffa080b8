"""``GET /containers/{id}/stats``: the fields dockerd sends and the CLI reads.

The CLI computes CPU % from cpu_stats minus precpu_stats, memory from
memory_stats.usage less the page cache (``stats``) against ``limit``, and
PIDs from pids_stats.current. Values cgroup v2 cannot give stay null or out.
"""

from typing import Annotated

from pydantic import Field

from api.models.base import ApiModel, OmitEmpty
from daemon.timefmt import ZERO_TIME


class PidsStats(ApiModel):
    current: Annotated[int, OmitEmpty] = 0
    limit: Annotated[int, OmitEmpty] = 0


class BlkioStatEntry(ApiModel):
    major: int = 0
    minor: int = 0
    op: str = ""
    value: int = 0


class BlkioStats(ApiModel):
    io_service_bytes_recursive: list[BlkioStatEntry] | None = None
    io_serviced_recursive: list[BlkioStatEntry] | None = None
    io_queue_recursive: list[BlkioStatEntry] | None = None
    io_service_time_recursive: list[BlkioStatEntry] | None = None
    io_wait_time_recursive: list[BlkioStatEntry] | None = None
    io_merged_recursive: list[BlkioStatEntry] | None = None
    io_time_recursive: list[BlkioStatEntry] | None = None
    sectors_recursive: list[BlkioStatEntry] | None = None


class StorageStats(ApiModel):
    # Windows only; an empty object on Linux.
    read_count_normalized: Annotated[int, OmitEmpty] = 0
    read_size_bytes: Annotated[int, OmitEmpty] = 0
    write_count_normalized: Annotated[int, OmitEmpty] = 0
    write_size_bytes: Annotated[int, OmitEmpty] = 0


class CpuUsage(ApiModel):
    """Times in nanoseconds."""

    total_usage: int = 0
    percpu_usage: Annotated[list[int] | None, OmitEmpty] = None  # cgroup v1 only
    usage_in_kernelmode: int = 0
    usage_in_usermode: int = 0


class ThrottlingData(ApiModel):
    periods: int = 0
    throttled_periods: int = 0
    throttled_time: int = 0


class CpuStats(ApiModel):
    cpu_usage: CpuUsage = Field(default_factory=CpuUsage)
    system_cpu_usage: Annotated[int, OmitEmpty] = 0
    online_cpus: Annotated[int, OmitEmpty] = 0
    throttling_data: ThrottlingData = Field(default_factory=ThrottlingData)


class MemoryStats(ApiModel):
    usage: Annotated[int, OmitEmpty] = 0
    max_usage: Annotated[int, OmitEmpty] = 0  # cgroup v1 only
    stats: Annotated[dict[str, int] | None, OmitEmpty] = None
    failcnt: Annotated[int, OmitEmpty] = 0  # cgroup v1 only
    limit: Annotated[int, OmitEmpty] = 0


class NetworkStats(ApiModel):
    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0
    endpoint_id: Annotated[str, OmitEmpty] = ""
    instance_id: Annotated[str, OmitEmpty] = ""


class StatsResponse(ApiModel):
    """One sample. ``read``/``preread`` are RFC3339Nano; preread is the zero
    time on the first sample of a stream."""

    read: str = ZERO_TIME
    preread: str = ZERO_TIME
    pids_stats: PidsStats = Field(default_factory=PidsStats)
    blkio_stats: BlkioStats = Field(default_factory=BlkioStats)
    num_procs: int = 0
    storage_stats: StorageStats = Field(default_factory=StorageStats)
    cpu_stats: CpuStats = Field(default_factory=CpuStats)
    precpu_stats: CpuStats = Field(default_factory=CpuStats)
    memory_stats: MemoryStats = Field(default_factory=MemoryStats)
    name: Annotated[str, OmitEmpty] = ""  # "/" + container name
    id: Annotated[str, OmitEmpty] = ""
    networks: Annotated[dict[str, NetworkStats] | None, OmitEmpty] = None
