"""moorage on a cgroup v2 host with AppArmor: limits in the v2 files, v2 stats, OOM and
security options. Runs in the guest of scripts/vm/run-tests.sh; skipped on cgroup v1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from daemon.oci.security import apparmor_enabled
from tests.support.daemon import RunningDaemon

CGROUP_ROOT = Path("/sys/fs/cgroup")

pytestmark = pytest.mark.skipif(
    not (CGROUP_ROOT / "cgroup.controllers").exists(), reason="needs a cgroup v2 host"
)


async def _cgroup_dir(daemon: RunningDaemon, name: str) -> Path:
    """The container's cgroup folder as the host sees it, from its init's /proc/PID/cgroup."""
    pid = (await daemon.docker_ok("inspect", "--format", "{{.State.Pid}}", name)).strip()
    return _unified_cgroup(Path(f"/proc/{pid}/cgroup"))


def _unified_cgroup(proc_cgroup: Path) -> Path:
    line = proc_cgroup.read_text().strip()
    assert line.startswith("0::"), line
    return CGROUP_ROOT / line[3:].lstrip("/")


async def test_limits_land_in_memory_max_and_cpu_max_and_update_changes_them(
    daemon: RunningDaemon,
) -> None:
    await daemon.docker_ok(
        "run", "-d", "--name", "v2-limits", "-m", "64m", "--cpus", "0.5", "busybox", "sleep", "300"
    )
    cgroup = await _cgroup_dir(daemon, "v2-limits")
    assert (cgroup / "memory.max").read_text().strip() == str(64 * 1024 * 1024)
    assert (cgroup / "cpu.max").read_text().split() == ["50000", "100000"]
    await daemon.docker_ok("update", "--memory", "128m", "--memory-swap", "256m", "v2-limits")
    assert (cgroup / "memory.max").read_text().strip() == str(128 * 1024 * 1024)
    await daemon.docker_ok("rm", "-f", "v2-limits")


async def test_pids_limit_lands_in_pids_max(daemon: RunningDaemon) -> None:
    await daemon.docker_ok(
        "run", "-d", "--name", "v2-pids", "--pids-limit", "20", "busybox", "sleep", "300"
    )
    cgroup = await _cgroup_dir(daemon, "v2-pids")
    assert (cgroup / "pids.max").read_text().strip() == "20"
    await daemon.docker_ok("rm", "-f", "v2-pids")


async def test_device_bps_limit_lands_in_io_max(daemon: RunningDaemon) -> None:
    disk = _root_disk()
    await daemon.docker_ok(
        "run", "-d", "--name", "v2-io", "--device-read-bps", f"{disk}:1mb",
        "--device-write-iops", f"{disk}:100", "busybox", "sleep", "300",
    )  # fmt: skip
    cgroup = await _cgroup_dir(daemon, "v2-io")
    rdev = os.stat(disk).st_rdev
    line = f"{os.major(rdev)}:{os.minor(rdev)} rbps=1048576 wbps=max riops=max wiops=100"
    assert (cgroup / "io.max").read_text().strip() == line
    await daemon.docker_ok("rm", "-f", "v2-io")


def _root_disk() -> str:
    """The block device the root file system is on (the guest's /dev/vda)."""
    for candidate in ("/dev/vda", "/dev/sda", "/dev/nvme0n1"):
        if os.path.exists(candidate):
            return candidate
    pytest.skip("no block device to limit")


async def test_stats_leave_the_v2_gaps_out(daemon: RunningDaemon) -> None:
    await daemon.docker_ok(
        "run", "-d", "--name", "v2-stats", "-m", "64m", "busybox", "sh", "-c", "yes >/dev/null"
    )
    status, stats = await daemon.request("GET", "/containers/v2-stats/stats", stream="false")
    assert status == 200, stats
    memory = stats["memory_stats"]
    assert memory["limit"] == 64 * 1024 * 1024 and memory["usage"] > 0
    assert "max_usage" not in memory and "failcnt" not in memory
    assert "stats" in memory  # the v2 memory.stat keys
    assert "percpu_usage" not in stats["cpu_stats"]["cpu_usage"]
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    blkio = stats["blkio_stats"]
    assert set(k for k, v in blkio.items() if v is not None) <= {"io_service_bytes_recursive"}
    out = await daemon.docker_ok(
        "stats", "--no-stream", "--format", "{{.CPUPerc}} {{.MemUsage}}", "v2-stats"
    )
    cpu, usage = out.split(" ", 1)
    # A busy loop under two vCPUs: some CPU, not more than the machine has.
    assert 1.0 < float(cpu.rstrip("%")) <= 200.0, out
    assert usage.strip().endswith("/ 64MiB"), out
    await daemon.docker_ok("rm", "-f", "v2-stats")


async def test_oom_kill_is_seen_from_memory_events(daemon: RunningDaemon) -> None:
    code, _, err = await daemon.docker(
        "run", "--name", "v2-oom", "-m", "16m", "busybox", "dd", "if=/dev/zero", "of=/dev/null",
        "bs=64M", "count=1",
    )  # fmt: skip
    assert code == 137, err
    doc = json.loads(await daemon.docker_ok("inspect", "v2-oom"))[0]
    assert doc["State"]["OOMKilled"] is True and doc["State"]["ExitCode"] == 137
    events = await daemon.docker_ok(
        "events", "--since", "0", "--until", "0s", "--filter", "container=v2-oom",
        "--filter", "event=oom", "--format", "{{.Action}}",
    )  # fmt: skip
    assert events.split() == ["oom"], events
    await daemon.docker_ok("rm", "v2-oom")


async def test_apparmor_is_listed_and_applied(daemon: RunningDaemon) -> None:
    if not apparmor_enabled():
        pytest.skip("AppArmor is off in this kernel")
    options = await daemon.docker_ok("info", "--format", "{{json .SecurityOptions}}")
    assert "name=apparmor" in json.loads(options)
    label = await daemon.docker_ok("run", "--rm", "busybox", "cat", "/proc/self/attr/current")
    assert label.strip() == "docker-default (enforce)"
    label = await daemon.docker_ok(
        "run", "--rm", "--security-opt", "apparmor=unconfined", "busybox",
        "cat", "/proc/self/attr/current",
    )  # fmt: skip
    assert label.strip() == "unconfined"
    # Enforced, not only named: the profile denies mount even with CAP_SYS_ADMIN.
    mount = ("--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", "mkdir /x && mount -t tmpfs x /x")
    code, _, err = await daemon.docker("run", "--rm", *mount)
    assert code != 0 and "denied" in err.lower(), err
    await daemon.docker_ok("run", "--rm", "--security-opt", "apparmor=unconfined", *mount)
