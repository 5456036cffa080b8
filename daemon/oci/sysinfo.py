"""What the host's cgroups support, which decides what validation accepts or discards."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class SysInfo:
    """The host facts dockerd keeps in its `sysinfo.SysInfo`, as far as moorage uses them."""

    ncpu: int = 1
    cpus: str = "0"  # cpuset.cpus of the root cgroup, e.g. "0-3"
    mems: str = "0"
    cgroup_version: int = 1
    memory_limit: bool = True
    swap_limit: bool = True
    memory_reservation: bool = True
    memory_swappiness: bool = True
    kernel_memory: bool = True
    oom_kill_disable: bool = True
    pids_limit: bool = True
    cpu_cfs: bool = True
    cpu_shares: bool = True
    cpu_realtime: bool = False
    cpuset: bool = True
    blkio_weight: bool = True
    blkio_weight_device: bool = True
    blkio_throttle: bool = True


def _read(path: Path, default: str) -> str:
    try:
        return path.read_text().strip() or default
    except OSError:
        return default


def _ncpu() -> int:
    # Go's runtime.NumCPU, which dockerd quotes in its NanoCpus error, honours affinity.
    return len(os.sched_getaffinity(0))


def _probe_v1(root: Path) -> SysInfo:
    def has(controller: str, name: str) -> bool:
        return (root / controller / name).exists()

    return SysInfo(
        ncpu=_ncpu(),
        cpus=_read(
            root / "cpuset" / "cpuset.cpus", _read(Path("/sys/devices/system/cpu/online"), "0")
        ),
        mems=_read(root / "cpuset" / "cpuset.mems", "0"),
        cgroup_version=1,
        memory_limit=has("memory", "memory.limit_in_bytes"),
        swap_limit=has("memory", "memory.memsw.limit_in_bytes"),
        memory_reservation=has("memory", "memory.soft_limit_in_bytes"),
        memory_swappiness=has("memory", "memory.swappiness"),
        kernel_memory=has("memory", "memory.kmem.limit_in_bytes"),
        oom_kill_disable=has("memory", "memory.oom_control"),
        pids_limit=has("pids", "pids.max") or (root / "pids").is_dir(),
        cpu_cfs=has("cpu", "cpu.cfs_quota_us"),
        cpu_shares=has("cpu", "cpu.shares"),
        cpu_realtime=has("cpu", "cpu.rt_runtime_us"),
        cpuset=(root / "cpuset").is_dir(),
        blkio_weight=has("blkio", "blkio.weight"),
        blkio_weight_device=has("blkio", "blkio.weight_device"),
        blkio_throttle=has("blkio", "blkio.throttle.read_bps_device"),
    )


def _probe_v2(root: Path) -> SysInfo:
    controllers = set(_read(root / "cgroup.controllers", "").split())
    memory, io = "memory" in controllers, "io" in controllers
    return SysInfo(
        ncpu=_ncpu(),
        cpus=_read(
            root / "cpuset.cpus.effective", _read(Path("/sys/devices/system/cpu/online"), "0")
        ),
        mems=_read(root / "cpuset.mems.effective", "0"),
        cgroup_version=2,
        memory_limit=memory,
        swap_limit=memory,
        memory_reservation=memory,
        # cgroup v2 has no swappiness, kernel memory or OOM-killer switch.
        memory_swappiness=False,
        kernel_memory=False,
        oom_kill_disable=False,
        pids_limit="pids" in controllers,
        cpu_cfs="cpu" in controllers,
        cpu_shares="cpu" in controllers,
        cpu_realtime=False,
        cpuset="cpuset" in controllers,
        blkio_weight=io,
        blkio_weight_device=io,
        blkio_throttle=io,
    )


def probe_sysinfo(cgroup_root: Path = CGROUP_ROOT) -> SysInfo:
    """Read once at daemon start-up."""
    if (cgroup_root / "cgroup.controllers").exists():
        return _probe_v2(cgroup_root)
    return _probe_v1(cgroup_root)
