"""linux.resources from HostConfig, and HostConfig normalization at create."""

from __future__ import annotations

import os
from typing import Any

import pytest

from daemon.oci.defaults import DEFAULT_SHM_SIZE, MASKED_PATHS
from daemon.oci.errors import StartError
from daemon.oci.hostconfig import normalize_host_config
from daemon.oci.resources import linux_resources
from daemon.oci.sysinfo import SysInfo

MB = 1024 * 1024
SYSINFO = SysInfo(ncpu=2, cpus="0-1", mems="0")


def test_memory() -> None:
    resources = linux_resources(
        {
            "Memory": 64 * MB,
            "MemorySwap": 128 * MB,
            "MemoryReservation": 32 * MB,
            "MemorySwappiness": 10,
            "OomKillDisable": True,
        }
    )
    assert resources == {
        "memory": {
            "limit": 64 * MB,
            "reservation": 32 * MB,
            "swap": 128 * MB,
            "swappiness": 10,
            "disableOOMKiller": True,
        }
    }


def test_unlimited_swap_and_unset_swappiness_are_left_out() -> None:
    resources = linux_resources({"Memory": 64 * MB, "MemorySwap": -1, "MemorySwappiness": -1})
    assert resources == {"memory": {"limit": 64 * MB}}


def test_nano_cpus_become_quota_over_100ms() -> None:
    assert linux_resources({"NanoCpus": 1_500_000_000})["cpu"] == {
        "period": 100000,
        "quota": 150000,
    }


def test_cpu_fields() -> None:
    cpu = linux_resources(
        {
            "CpuShares": 512,
            "CpuPeriod": 50000,
            "CpuQuota": 25000,
            "CpusetCpus": "0",
            "CpusetMems": "0",
        }
    )["cpu"]
    assert cpu == {"shares": 512, "period": 50000, "quota": 25000, "cpus": "0", "mems": "0"}


@pytest.mark.parametrize(("limit", "expected"), [(None, None), (0, -1), (-1, -1), (50, 50)])
def test_pids(limit: int | None, expected: int | None) -> None:
    resources = linux_resources({"PidsLimit": limit})
    assert resources.get("pids") == (None if expected is None else {"limit": expected})


def test_blkio() -> None:
    null = os.stat("/dev/null").st_rdev
    resources = linux_resources(
        {
            "BlkioWeight": 300,
            "BlkioWeightDevice": [{"Path": "/dev/null", "Weight": 200}],
            "BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1024}],
        }
    )
    major, minor = os.major(null), os.minor(null)
    assert resources["blockIO"] == {
        "weight": 300,
        "weightDevice": [{"major": major, "minor": minor, "weight": 200}],
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1024}],
    }
    with pytest.raises(StartError):
        linux_resources({"BlkioDeviceWriteIOps": [{"Path": "/dev/nonexistent", "Rate": 1}]})


def test_empty_host_config_has_no_resources() -> None:
    assert linux_resources({}) == {}
    assert linux_resources({}, [{"allow": False, "access": "rwm"}]) == {
        "devices": [{"allow": False, "access": "rwm"}]
    }


def test_normalize_fills_dockerd_defaults() -> None:
    source: dict[str, Any] = {"Memory": 64 * MB, "MemorySwappiness": -1, "PidsLimit": 0}
    hc = normalize_host_config(source, SYSINFO)
    assert hc["MemorySwap"] == 128 * MB
    assert hc["MemorySwappiness"] is None
    assert hc["PidsLimit"] is None
    assert hc["ShmSize"] == DEFAULT_SHM_SIZE
    assert hc["IpcMode"] == "private"
    assert hc["NetworkMode"] == "default"
    assert hc["CgroupnsMode"] == "host"
    assert hc["OomKillDisable"] is False
    assert hc["MaskedPaths"] == MASKED_PATHS
    assert source == {"Memory": 64 * MB, "MemorySwappiness": -1, "PidsLimit": 0}


def test_normalize_keeps_given_values_and_privileged_has_no_masks() -> None:
    hc = normalize_host_config(
        {"Memory": 64 * MB, "MemorySwap": -1, "ShmSize": 1, "IpcMode": "host", "Privileged": True},
        SysInfo(cgroup_version=2),
    )
    assert hc["MemorySwap"] == -1 and hc["ShmSize"] == 1 and hc["IpcMode"] == "host"
    assert hc["CgroupnsMode"] == "private"
    assert hc.get("MaskedPaths") is None and hc.get("ReadonlyPaths") is None


def test_normalize_discards_what_the_host_cannot_do() -> None:
    sysinfo = SysInfo(swap_limit=False, memory_swappiness=False, blkio_weight=False)
    hc = normalize_host_config(
        {"Memory": 64 * MB, "MemorySwappiness": 5, "BlkioWeight": 100}, sysinfo
    )
    assert hc["MemorySwap"] == -1 and hc["MemorySwappiness"] is None and hc["BlkioWeight"] == 0
