"""`docker update`: how a request merges into the stored HostConfig, and what reaches runc."""

from __future__ import annotations

import pytest

from daemon import errors
from daemon.update import merged_host_config, update_resources

MB = 2**20


def test_only_non_zero_fields_replace_stored_ones() -> None:
    stored = {"Memory": 64 * MB, "MemorySwap": 128 * MB, "CpuShares": 512, "PidsLimit": None}
    merged = merged_host_config(stored, {"Memory": 0, "MemorySwap": 0, "CpuShares": 1024})
    assert merged == {
        "Memory": 64 * MB,
        "MemorySwap": 128 * MB,
        "CpuShares": 1024,
        "PidsLimit": None,
    }
    assert stored["CpuShares"] == 512  # the stored dict is not touched


def test_memory_above_stored_swap_needs_swap_too() -> None:
    with pytest.raises(errors.Conflict, match="update the memoryswap at the same time"):
        merged_host_config({"Memory": 0, "MemorySwap": 0}, {"Memory": 64 * MB})
    merged = merged_host_config({"MemorySwap": 0}, {"Memory": 64 * MB, "MemorySwap": -1})
    assert (merged["Memory"], merged["MemorySwap"]) == (64 * MB, -1)


@pytest.mark.parametrize(
    ("stored", "request_", "message"),
    [
        ({"CpuPeriod": 100000}, {"NanoCpus": 10**9}, "Nano CPUs cannot be updated as CPU Period"),
        ({"CpuQuota": 50000}, {"NanoCpus": 10**9}, "Nano CPUs cannot be updated as CPU Quota"),
        ({"NanoCpus": 10**9}, {"CpuPeriod": 100000}, "CPU Period cannot be updated as NanoCpus"),
        ({"NanoCpus": 10**9}, {"CpuQuota": 50000}, "CPU Quota cannot be updated as NanoCpus"),
    ],
)
def test_nano_cpus_do_not_mix_with_period_or_quota(
    stored: dict[str, int], request_: dict[str, int], message: str
) -> None:
    with pytest.raises(errors.Conflict, match=f"^Conflicting options: {message}"):
        merged_host_config(stored, request_)


def test_restart_policy() -> None:
    policy = {"Name": "on-failure", "MaximumRetryCount": 3}
    merged = merged_host_config({"RestartPolicy": {"Name": "no"}}, {"RestartPolicy": policy})
    assert merged["RestartPolicy"] == policy
    # An empty name leaves the policy alone.
    merged = merged_host_config({"RestartPolicy": policy}, {"RestartPolicy": {"Name": ""}})
    assert merged["RestartPolicy"] == policy
    with pytest.raises(errors.Conflict, match="AutoRemove is enabled"):
        merged_host_config({"AutoRemove": True}, {"RestartPolicy": {"Name": "always"}})


def test_update_resources_carry_only_what_was_asked() -> None:
    request = {
        "Memory": 64 * MB,
        "MemorySwap": 128 * MB,
        "CpuShares": 0,
        "MemorySwappiness": 50,  # not updatable: left out
        "OomKillDisable": True,
        "PidsLimit": 0,
    }
    assert update_resources(request) == {
        "memory": {"limit": 64 * MB, "swap": 128 * MB},
        "pids": {"limit": -1},
    }
    assert update_resources({"NanoCpus": 5 * 10**8}) == {"cpu": {"period": 100000, "quota": 50000}}
