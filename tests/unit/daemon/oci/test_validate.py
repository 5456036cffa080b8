"""Create-time validation: each of dockerd's messages, and its warnings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from daemon.oci.errors import NetworkNotFoundError, SpecError
from daemon.oci.sysinfo import SysInfo
from daemon.oci.validate import parse_uint_list, validate_create, validate_resources
from wire.container import ContainerCreateRequest, ContainerUpdateRequest

MB = 1024 * 1024
SYSINFO = SysInfo(ncpu=2, cpus="0-1", mems="0")


def body(config: dict[str, Any] | None = None, **host_config: Any) -> ContainerCreateRequest:
    """A create request as the API layer parses it."""
    return ContainerCreateRequest.model_validate(
        {"Image": "busybox", "Cmd": ["true"], **(config or {}), "HostConfig": host_config}
    )


def rejects(request: ContainerCreateRequest, message: str, sysinfo: SysInfo = SYSINFO) -> SpecError:
    with pytest.raises(SpecError, match="^" + re.escape(message) + "$") as err:
        validate_create(request, sysinfo)
    return err.value


CASES: list[tuple[ContainerCreateRequest, str]] = [
    # memory
    (body(Memory=5 * MB), "Minimum memory limit allowed is 6MB"),
    (body(Memory=-1), "Minimum memory limit allowed is 6MB"),
    (body(Memory=64 * MB, MemorySwap=32 * MB),
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    (body(MemorySwap=64 * MB),
     "You should always set the Memory limit when using Memoryswap limit, see usage"),
    (body(MemorySwappiness=101), "Invalid value: 101, valid memory swappiness range is 0-100"),
    (body(MemorySwappiness=-2), "Invalid value: -2, valid memory swappiness range is 0-100"),
    (body(MemoryReservation=MB), "Minimum memory reservation allowed is 6MB"),
    (body(Memory=8 * MB, MemoryReservation=16 * MB),
     "Minimum memory limit can not be less than memory reservation limit, see usage"),
    (body(KernelMemory=MB), "Minimum kernel memory limit allowed is 4MB"),
    # cpu
    (body(NanoCpus=10**9, CpuPeriod=100000),
     "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    (body(NanoCpus=10**9, CpuQuota=50000),
     "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    (body(NanoCpus=3 * 10**9),
     "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
    (body(NanoCpus=-1), "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
    (body(CpuPeriod=999),
     "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
    (body(CpuPeriod=1000001),
     "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
    (body(CpuQuota=999), "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    (body(CpuShares=-1), "shares: invalid argument"),
    (body(CpusetCpus="0-x"), "Invalid value 0-x for cpuset cpus: invalid format: 0-x"),
    (body(CpusetCpus="3-1"), "Invalid value 3-1 for cpuset cpus: invalid format: 3-1"),
    (body(CpusetCpus="0,5"), "Requested CPUs are not available - requested 0,5, available: 0-1"),
    (body(CpusetMems="a"), "Invalid value a for cpuset mems: invalid format: a"),
    (body(CpusetMems="1"), "Requested memory nodes are not available - requested 1, available: 0"),
    (body(BlkioWeight=5), "Range of blkio weight is from 10 to 1000"),
    (body(IOMaximumBandwidth=1),
     "Invalid QoS settings: linux does not support configuration of maximum bandwidth"),
    (body(CpuRealtimeRuntime=10), "Your kernel does not support CPU real-time scheduler"),
    # other HostConfig
    (body(ShmSize=-1), "SHM size can not be less than 0"),
    (body(OomScoreAdj=1001), "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
    (body(RestartPolicy={"Name": "always", "MaximumRetryCount": 3}),
     "maximum retry count cannot be used with restart policy 'always'"),
    (body(RestartPolicy={"Name": "no", "MaximumRetryCount": 1}),
     "maximum retry count cannot be used with restart policy 'no'"),
    (body(RestartPolicy={"Name": "on-failure", "MaximumRetryCount": -1}),
     "maximum retry count cannot be negative"),
    (body(RestartPolicy={"Name": "x"}), "invalid restart policy 'x'"),
    (body(AutoRemove=True, RestartPolicy={"Name": "always"}),
     "can't create 'AutoRemove' container with restart policy"),
    (body(CapAdd=["CAP_FOO"]), 'invalid CapAdd: unknown capability: "CAP_FOO"'),
    (body(CapDrop=["bar"]), 'invalid CapDrop: unknown capability: "CAP_BAR"'),
    (body(ExtraHosts=["nohost"]), 'bad format for add-host: "nohost"'),
    (body(ExtraHosts=["h:1.2.3"]), 'invalid IP address in add-host: "1.2.3"'),
    (body(PortBindings={"8x/tcp": []}), 'invalid port specification: "8x"'),
    (body(PortBindings={"80/tcp": [{"HostPort": "99999"}]}),
     'invalid port specification: "99999"'),
    (body(Ulimits=[{"Name": "nofiles", "Soft": 1, "Hard": 1}]), "invalid ulimit type: nofiles"),
    (body(Ulimits=[{"Name": "nofile", "Soft": 3, "Hard": 2}]),
     "ulimit soft limit must be less than or equal to hard limit: 3 > 2"),
    (body(DeviceCgroupRules=["c 1:3 rwx"]), "invalid device cgroup rule format: 'c 1:3 rwx'"),
    (body(IpcMode="weird"), "invalid IPC mode: weird"),
    (body(PidMode="weird"), "invalid PID mode: weird"),
    (body(CgroupnsMode="x"), "invalid cgroup namespace mode: x"),
    (body(Isolation="hyperv"), "Invalid isolation: \"hyperv\" - linux only supports 'default'"),
    # network modes
    (body(NetworkMode="container:"),
     "Invalid network mode: invalid container format container:<name|id>"),
    (body({"Hostname": "h"}, NetworkMode="container:abc"),
     "conflicting options: hostname and the network mode"),
    (body(NetworkMode="container:abc", Dns=["1.1.1.1"]),
     "conflicting options: dns and the network mode"),
    (body(NetworkMode="container:abc", ExtraHosts=["a:1.1.1.1"]),
     "conflicting options: custom host-to-IP mapping and the network mode"),
    (body({"Hostname": "h"}, UTSMode="host"), "conflicting options: hostname and the UTS mode"),
    # Config
    (body({"WorkingDir": "rel"}),
     "the working directory 'rel' is invalid, it needs to be an absolute path"),
    (body({"StopSignal": "SIGNOPE"}), "Invalid signal: SIGNOPE"),
    (body({"Env": ["=x"]}), "invalid environment variable: =x"),
    (body({"Healthcheck": {"Interval": 10}}), "Interval in Healthcheck cannot be less than 1ms"),
    (body({"Healthcheck": {"Retries": -1}}), "Retries in Healthcheck cannot be negative"),
]  # fmt: skip


@pytest.mark.parametrize(("request_body", "message"), CASES, ids=[m for _, m in CASES])
def test_rejected_with_dockerds_message(request_body: ContainerCreateRequest, message: str) -> None:
    assert rejects(request_body, message).http_status == 400


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("bogus", 'invalid --security-opt 1: "bogus"'),
        ("no-new-privileges=maybe", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
        # The CLI's own flag: it sends empty MaskedPaths/ReadonlyPaths; dockerd 20.10.24
        # knows no such key when a client sends the option itself.
        ("systempaths=unconfined", 'invalid --security-opt 2: "systempaths=unconfined"'),
        ("systempaths:unconfined", 'invalid --security-opt 2: "systempaths:unconfined"'),
    ],
)
def test_unparsed_security_opt_is_dockerds_500(option: str, message: str) -> None:
    # dockerd 20.10.24 answers these at create with a plain error: 500, not 400.
    assert rejects(body(SecurityOpt=["seccomp=unconfined", option]), message).http_status == 500


def test_valid_body_passes_with_no_warning() -> None:
    request = body(
        Memory=64 * MB,
        MemorySwap=-1,
        MemorySwappiness=-1,
        NanoCpus=5 * 10**8,
        CpusetCpus="0-1",
        PidsLimit=-1,
        RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 3},
        CapAdd=["ALL"],
        NetworkMode="default",
        ShmSize=0,
    )
    assert validate_create(request, SYSINFO) == []


@pytest.mark.parametrize("mode", ["", "default", "bridge", "none", "host", "container:other"])
def test_supported_network_modes(mode: str) -> None:
    validate_create(body(NetworkMode=mode), SYSINFO)


def test_unknown_network_is_not_found() -> None:
    with pytest.raises(NetworkNotFoundError, match=r"^network mynet not found$") as err:
        validate_create(body(NetworkMode="mynet"), SYSINFO)
    assert err.value.http_status == 404


def test_unsupported_resources_are_warned_about() -> None:
    sysinfo = SysInfo(ncpu=2, cpus="0-1", swap_limit=False, blkio_weight=False)
    warnings = validate_create(body(Memory=64 * MB, BlkioWeight=500), sysinfo)
    assert warnings == [
        "Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
        "Memory limited without swap.",
        "Your kernel does not support Block I/O weight or the cgroup is not mounted. "
        "Weight discarded.",
    ]


def test_update_may_set_swap_alone() -> None:
    update = ContainerUpdateRequest.model_validate({"MemorySwap": 64 * MB})
    assert validate_resources(update, SYSINFO, update=True) == []


# --- mounts ---------------------------------------------------------------------------


def test_bind_mount_source_must_exist() -> None:
    rejects(
        body(Mounts=[{"Type": "bind", "Source": "/nonexistent/x", "Target": "/x"}]),
        'invalid mount config for type "bind": bind source path does not exist: /nonexistent/x',
    )


def test_binds_with_missing_source_are_fine_at_create() -> None:
    validate_create(body(Binds=["/nonexistent/y:/y"]), SYSINFO)


@pytest.mark.parametrize(
    ("binds", "message"),
    [
        (["vol:rel"], "invalid volume specification: 'vol:rel': invalid mount config for "
         "type \"volume\": invalid mount path: 'rel' mount path must be absolute"),
        (["/src:dst"], "invalid volume specification: '/src:dst': invalid mount config for "
         "type \"bind\": invalid mount path: 'dst' mount path must be absolute"),
        (["/src:/"], "invalid volume specification: '/src:/': invalid mount config for "
         "type \"bind\": invalid specification: destination can't be '/'"),
        (["/a:/b:/c:/d"], "invalid volume specification: '/a:/b:/c:/d'"),
        ([":/b"], "invalid volume specification: ':/b'"),
        (["/dst:ro"], "invalid volume specification: '/dst:ro'"),
        (["/a:/b:xx"], "invalid mode: xx"),
        (["/a:/b:ro,rw"], "invalid mode: ro,rw"),
    ],
)  # fmt: skip
def test_invalid_binds(binds: list[str], message: str) -> None:
    rejects(body(Binds=binds), message)


def test_duplicate_mount_points(tmp_path: Path) -> None:
    rejects(body(Binds=["/a:/x", "/b:/x/"]), "Duplicate mount point: /x")
    rejects(body(Binds=["/a:/run"], Tmpfs={"/run": ""}), "Duplicate mount point: /run")
    mounts = [{"Type": "bind", "Source": str(tmp_path), "Target": "/x"}]
    rejects(body(Binds=["/a:/x"], Mounts=mounts), "Duplicate mount point: /x")
    rejects(body(Mounts=[{"Type": "tmpfs", "Target": "/t"}], Tmpfs={"/t": ""}),
            "Duplicate mount point: /t")  # fmt: skip


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ({"Type": "volume", "Target": "/v", "ReadOnly": True},
         'invalid mount config for type "volume": must not set ReadOnly mode when using '
         "anonymous volumes"),
        ({"Type": "volume", "Source": "v", "Target": "/v",
          "BindOptions": {"Propagation": "shared"}},
         'invalid mount config for type "volume": field BindOptions must not be specified'),
        ({"Type": "npipe", "Source": "p", "Target": "/p"},
         'invalid mount config for type "npipe": mount type unknown'),
        ({"Type": "bind", "Source": "/tmp", "Target": ""},
         'invalid mount config for type "bind": field Target must not be empty'),
        ({"Type": "bind", "Target": "/x"},
         'invalid mount config for type "bind": field Source must not be empty'),
        ({"Type": "bind", "Source": "tmp", "Target": "/x"},
         "invalid mount config for type \"bind\": invalid mount path: 'tmp' mount path "
         "must be absolute"),
        ({"Type": "bind", "Source": "/tmp", "Target": "/x", "BindOptions": {"Propagation": "up"}},
         'invalid mount config for type "bind": invalid propagation mode: up'),
        ({"Type": "tmpfs", "Source": "/tmp", "Target": "/x"},
         'invalid mount config for type "tmpfs": field Source must not be specified'),
        ({"Type": "tmpfs", "Target": "/"},
         "invalid mount config for type \"tmpfs\": invalid specification: destination "
         "can't be '/'"),
    ],
)  # fmt: skip
def test_invalid_mounts(mount: dict[str, Any], message: str) -> None:
    rejects(body(Mounts=[mount]), message)


def test_tmpfs_map_checks() -> None:
    rejects(body(Tmpfs={"run": ""}), "invalid mount path: 'run' mount path must be absolute")
    rejects(body(Tmpfs={"/run": "size"}), 'Invalid tmpfs option ["size"]')
    rejects(body(Tmpfs={"/run": "foo=1"}), 'Invalid tmpfs option ["foo" "1"]')


def test_parse_uint_list() -> None:
    assert parse_uint_list("0-2,5") == {0, 1, 2, 5}
    assert parse_uint_list("") == set()
