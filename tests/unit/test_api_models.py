"""Engine API models: what clients send parses, what we send has dockerd's shape."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web

from api.body import read_json
from api.models.container import (
    ContainerCreateRequest,
    ContainerCreateResponse,
    ContainerInspect,
    ContainerState,
    ContainerSummary,
    ContainerUpdateRequest,
    ContainerUpdateResponse,
    GraphDriverData,
    WaitError,
    WaitResponse,
)
from api.models.container_config import ContainerConfig
from api.models.events import EventActor, EventMessage
from api.models.exec import ExecCreateRequest, ExecInspect, ExecProcessConfig, ExecStartRequest
from api.models.host_config import HostConfig, LogConfig, Mount, RestartPolicy
from api.models.network import EndpointSettings, NetworkSettings, SummaryNetworkSettings
from api.models.stats import CpuStats, CpuUsage, MemoryStats, PidsStats, StatsResponse
from api.models.system import ComponentVersion, InfoResponse, PlatformInfo, VersionResponse
from daemon.timefmt import ZERO_TIME, rfc3339_nano
from tests.support.dockerd import STATS_KEYS
from tests.unit.api_support import serve_app


def cli28_host_config() -> dict[str, Any]:
    """HostConfig as docker 28 sends it for ``docker run busybox``: 63 keys."""
    return {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default",
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [0, 0],
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 0,
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": -1,
        "OomKillDisable": False,
        "PidsLimit": None,
        "Ulimits": [],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
        "KernelMemoryTCP": 0,
    }


def cli28_create_body() -> dict[str, Any]:
    return {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": [],
        "Cmd": ["echo", "hi"],
        "Image": "busybox",
        "Volumes": {},
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": {},
        "HostConfig": cli28_host_config(),
        "NetworkingConfig": {
            "EndpointsConfig": {
                "default": {
                    "IPAMConfig": None,
                    "Links": None,
                    "Aliases": None,
                    "MacAddress": "",
                    "DriverOpts": None,
                    "GwPriority": 0,
                    "NetworkID": "",
                    "EndpointID": "",
                    "Gateway": "",
                    "IPAddress": "",
                    "IPPrefixLen": 0,
                    "IPv6Gateway": "",
                    "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0,
                    "DNSNames": None,
                }
            }
        },
    }


def test_cli28_create_body_parses() -> None:
    body = cli28_create_body()
    assert len(body["HostConfig"]) == 63
    req = ContainerCreateRequest.model_validate(body)
    assert req.Image == "busybox"
    assert req.Cmd == ["echo", "hi"]
    assert req.AttachStdout and not req.AttachStdin
    hc = req.HostConfig
    assert hc is not None
    assert hc.NetworkMode == "default"
    assert hc.RestartPolicy == RestartPolicy(Name="no")
    assert hc.MemorySwappiness == -1
    assert hc.ConsoleSize == (0, 0)
    assert hc.LogConfig == LogConfig(Type="", config={})
    assert hc.Dns == [] and hc.Binds is None and hc.PidsLimit is None
    assert hc.OomKillDisable is False
    assert req.NetworkingConfig is not None
    assert req.NetworkingConfig.EndpointsConfig == {"default": EndpointSettings()}


def test_create_body_round_trips_nulls_and_empties() -> None:
    hc = ContainerCreateRequest.model_validate(cli28_create_body()).HostConfig
    assert hc is not None
    out = hc.to_dict()
    # What the client sent comes back as it was: null stays null, [] stays [].
    assert out["Binds"] is None and out["Dns"] == [] and out["Ulimits"] == []
    assert out["MemorySwappiness"] == -1 and out["OomKillDisable"] is False
    # omitempty fields that were not sent stay out, as in dockerd's inspect.
    for key in ("Mounts", "Init", "Runtime", "Sysctls", "Tmpfs", "StorageOpt"):
        assert key not in out
    assert list(out)[:3] == ["Binds", "ContainerIDFile", "LogConfig"]
    assert list(out)[-3:] == ["IOMaximumBandwidth", "MaskedPaths", "ReadonlyPaths"]


def test_unknown_keys_are_ignored() -> None:
    body = cli28_create_body()
    body["FutureField"] = {"x": 1}
    body["HostConfig"]["Annotations"] = {"a": "b"}
    body["HostConfig"]["SomethingNew"] = [1, 2]
    req = ContainerCreateRequest.model_validate(body)
    assert "FutureField" not in req.to_dict()
    assert req.HostConfig is not None and "Annotations" not in req.HostConfig.to_dict()


def test_go_decoding_rules() -> None:
    req = ContainerCreateRequest.model_validate(
        {
            "image": "busybox",  # keys match case-insensitively
            "cmd": "sh",  # a string for a StrSlice
            "Tty": None,  # null leaves the zero value
            "HostConfig": {"memory": 20971520, "ConsoleSize": [30, 100], "Privileged": None},
        }
    )
    assert req.Image == "busybox"
    assert req.Cmd == ["sh"]
    assert req.Tty is False
    assert req.HostConfig is not None
    assert req.HostConfig.Memory == 20971520
    assert req.HostConfig.ConsoleSize == (30, 100)


def test_host_config_mounts_and_resources() -> None:
    hc = HostConfig.model_validate(
        {
            "Binds": ["/src:/dst:ro"],
            "Mounts": [
                {
                    "Type": "bind",
                    "Source": "/a",
                    "Target": "/b",
                    "ReadOnly": True,
                    "BindOptions": {"Propagation": "rprivate"},
                },
                {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024, "Mode": 448}},
                {"Type": "volume", "Source": "v", "Target": "/v"},
            ],
            "Tmpfs": {"/run": "rw,size=64m"},
            "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
            "Devices": [
                {
                    "PathOnHost": "/dev/fuse",
                    "PathInContainer": "/dev/fuse",
                    "CgroupPermissions": "rwm",
                }
            ],
            "Sysctls": {"net.ipv4.ip_forward": "1"},
            "PidsLimit": 100,
            "Init": True,
            "Runtime": "io.containerd.runc.v2",
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
        }
    )
    assert hc.Mounts is not None and hc.Mounts[1].TmpfsOptions is not None
    assert hc.Mounts[1].TmpfsOptions.SizeBytes == 1024
    out = hc.to_dict()
    assert out["Mounts"][2] == {"Type": "volume", "Source": "v", "Target": "/v"}
    assert out["Mounts"][0]["BindOptions"] == {"Propagation": "rprivate"}
    assert out["Init"] is True and out["Runtime"] == "io.containerd.runc.v2"
    assert out["Ulimits"] == [{"Name": "nofile", "Hard": 2048, "Soft": 1024}]
    assert Mount().to_dict() == {}


def fresh_inspect() -> ContainerInspect:
    hc = ContainerCreateRequest.model_validate(cli28_create_body()).HostConfig
    return ContainerInspect(
        Id="a" * 64,
        Created="2024-05-01T10:00:00.123456789Z",
        Path="echo",
        Args=["hi"],
        State=ContainerState(Status="created"),
        Image="sha256:" + "b" * 64,
        Name="/x",
        Driver="overlayfs",
        Platform="linux",
        HostConfig=hc,
        GraphDriver=GraphDriverData(Name="overlayfs"),
        Mounts=[],
        config=ContainerConfig(Hostname="aaaaaaaaaaaa", Image="busybox", Cmd=["echo", "hi"]),
        NetworkSettings=NetworkSettings(Ports={}, Networks={"none": EndpointSettings()}),
    )


def test_inspect_shape() -> None:
    out = json.loads(fresh_inspect().to_json())
    assert list(out) == [
        "Id",
        "Created",
        "Path",
        "Args",
        "State",
        "Image",
        "ResolvConfPath",
        "HostnamePath",
        "HostsPath",
        "LogPath",
        "Name",
        "RestartCount",
        "Driver",
        "Platform",
        "MountLabel",
        "ProcessLabel",
        "AppArmorProfile",
        "ExecIDs",
        "HostConfig",
        "GraphDriver",
        "Mounts",
        "Config",
        "NetworkSettings",
    ]
    assert out["ExecIDs"] is None
    assert out["State"] == {
        "Status": "created",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
    }
    assert out["GraphDriver"] == {"Data": None, "Name": "overlayfs"}
    assert out["Config"] == {
        "Hostname": "aaaaaaaaaaaa",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": ["echo", "hi"],
        "Image": "busybox",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }
    assert out["NetworkSettings"]["Networks"]["none"]["IPAMConfig"] is None
    assert out["NetworkSettings"]["Ports"] == {}
    assert len(out["HostConfig"]) == 64


def test_config_omitempty_fields_appear_when_set() -> None:
    cfg = ContainerConfig(
        ExposedPorts={"80/tcp": {}}, StopSignal="SIGINT", StopTimeout=0, Healthcheck=None
    )
    out = cfg.to_dict()
    assert out["ExposedPorts"] == {"80/tcp": {}}
    assert out["StopSignal"] == "SIGINT"
    assert out["StopTimeout"] == 0  # a pointer: zero is still written
    assert "Healthcheck" not in out and "MacAddress" not in out and "Shell" not in out


def test_create_and_wait_responses() -> None:
    assert ContainerCreateResponse(Id="abc").to_json() == b'{"Id":"abc","Warnings":[]}'
    assert WaitResponse(StatusCode=0).to_json() == b'{"Error":null,"StatusCode":0}'
    failed = WaitResponse(StatusCode=1, Error=WaitError(Message="x"))
    assert failed.to_json() == b'{"Error":{"Message":"x"},"StatusCode":1}'
    assert ContainerUpdateResponse().to_json() == b'{"Warnings":null}'


def test_update_request() -> None:
    req = ContainerUpdateRequest.model_validate(
        {
            "Memory": 67108864,
            "MemorySwap": 134217728,
            "RestartPolicy": {"Name": "always"},
            "CpuShares": 0,
        }
    )
    assert req.Memory == 67108864 and req.MemorySwap == 134217728
    assert req.RestartPolicy.Name == "always"
    assert req.PidsLimit is None


def test_summary_shape() -> None:
    summary = ContainerSummary(
        Id="a" * 64,
        Names=["/x"],
        Image="busybox",
        ImageID="sha256:" + "b" * 64,
        Command="echo hi",
        Created=1714557600,
        Ports=[],
        Labels={},
        State="exited",
        Status="Exited (0) 2 seconds ago",
        NetworkSettings=SummaryNetworkSettings(Networks={}),
        Mounts=[],
    )
    out = json.loads(summary.to_json())
    assert list(out) == [
        "Id",
        "Names",
        "Image",
        "ImageID",
        "Command",
        "Created",
        "Ports",
        "Labels",
        "State",
        "Status",
        "HostConfig",
        "NetworkSettings",
        "Mounts",
    ]
    assert out["HostConfig"] == {}
    summary.HostConfig.NetworkMode = "none"
    assert summary.to_dict()["HostConfig"] == {"NetworkMode": "none"}


def test_exec_bodies() -> None:
    create = ExecCreateRequest.model_validate(
        {
            "User": "",
            "Privileged": False,
            "Tty": False,
            "AttachStdin": False,
            "AttachStderr": True,
            "AttachStdout": True,
            "Detach": False,
            "DetachKeys": "",
            "Env": None,
            "WorkingDir": "",
            "Cmd": ["echo", "hi"],
            "ConsoleSize": [30, 100],
        }
    )
    assert create.Cmd == ["echo", "hi"] and create.ConsoleSize == (30, 100)
    start = ExecStartRequest.model_validate({"Detach": False, "Tty": True})
    assert start.Tty and start.ConsoleSize is None
    inspect = ExecInspect(
        ID="e1",
        Running=True,
        ProcessConfig=ExecProcessConfig(entrypoint="echo", arguments=["hi"]),
        OpenStdout=True,
        OpenStderr=True,
        ContainerID="c" * 64,
        DetachKeys=b"\x10\x11",
        Pid=42,
    )
    out = json.loads(inspect.to_json())
    assert out["ExitCode"] is None
    assert out["DetachKeys"] == "EBE="
    assert out["ProcessConfig"] == {"tty": False, "entrypoint": "echo", "arguments": ["hi"]}
    inspect.ExitCode = 126
    assert json.loads(inspect.to_json())["ExitCode"] == 126


def test_event_message_matches_dockerd() -> None:
    ident = "c" * 64
    event = EventMessage(
        status="die",
        id=ident,
        from_="busybox",
        Type="container",
        Action="die",
        Actor=EventActor(ID=ident, Attributes={"exitCode": "137", "image": "busybox", "name": "x"}),
        scope="local",
        time=1714557600,
        timeNano=1714557600123456789,
    )
    expected = (
        '{"status":"die","id":"IDENT","from":"busybox","Type":"container","Action":"die",'
        '"Actor":{"ID":"IDENT","Attributes":{"exitCode":"137","image":"busybox","name":"x"}},'
        '"scope":"local","time":1714557600,"timeNano":1714557600123456789}'
    ).replace("IDENT", ident)
    assert event.to_json().decode() == expected
    image_event = EventMessage(
        Type="image",
        Action="load",
        Actor=EventActor(ID="busybox"),
        scope="local",
        time=1,
        timeNano=1,
    )
    assert "status" not in image_event.to_dict() and "from" not in image_event.to_dict()
    assert EventMessage.model_validate(json.loads(expected)).from_ == "busybox"


def test_stats_keys_the_cli_reads() -> None:
    stats = StatsResponse(
        read=rfc3339_nano(1714557600_000000000),
        preread=rfc3339_nano(1714557599_000000000),
        pids_stats=PidsStats(current=3),
        num_procs=0,
        cpu_stats=CpuStats(
            cpu_usage=CpuUsage(total_usage=2000), system_cpu_usage=10**9, online_cpus=4
        ),
        precpu_stats=CpuStats(cpu_usage=CpuUsage(total_usage=1000)),
        memory_stats=MemoryStats(usage=1 << 20, stats={"inactive_file": 4096}, limit=1 << 30),
        name="/x",
        id="c" * 64,
    )
    out = json.loads(stats.to_json())
    assert list(out) == list(STATS_KEYS)
    assert out["read"] == "2024-05-01T10:00:00Z"
    assert out["pids_stats"] == {"current": 3}
    assert out["blkio_stats"]["io_service_bytes_recursive"] is None
    assert out["storage_stats"] == {}
    assert out["cpu_stats"]["cpu_usage"] == {
        "total_usage": 2000,
        "usage_in_kernelmode": 0,
        "usage_in_usermode": 0,
    }
    assert out["precpu_stats"]["throttling_data"] == {
        "periods": 0,
        "throttled_periods": 0,
        "throttled_time": 0,
    }
    assert out["memory_stats"] == {
        "usage": 1048576,
        "stats": {"inactive_file": 4096},
        "limit": 1073741824,
    }


def test_version_and_info() -> None:
    version = VersionResponse(
        Platform=PlatformInfo(Name="moorage"),
        Components=[ComponentVersion(Name="Engine", Version="0.1.0")],
        Version="0.1.0",
        ApiVersion="1.41",
        MinAPIVersion="1.24",
        GitCommit="abc",
        GoVersion="python3.11",
        Os="linux",
        Arch="amd64",
    )
    out = json.loads(version.to_json())
    assert out["Platform"] == {"Name": "moorage"}
    assert out["Components"] == [{"Name": "Engine", "Version": "0.1.0"}]
    assert "Experimental" not in out and "BuildTime" not in out and "KernelVersion" not in out
    info = json.loads(InfoResponse(ServerVersion="0.1.0", OSType="linux").to_json())
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert info["Swarm"]["RemoteManagers"] is None
    assert info["ContainerdCommit"] == {"ID": "", "Expected": ""}
    assert "CgroupVersion" not in info and "DefaultAddressPools" not in info
    assert info["Warnings"] is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "0001-01-01T00:00:00Z"),
        (0, "1970-01-01T00:00:00Z"),
        (1714557600_123456789, "2024-05-01T10:00:00.123456789Z"),
        (1714557600_120000000, "2024-05-01T10:00:00.12Z"),
        (datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC), "2024-05-01T10:00:00.5Z"),
        (datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T10:00:00Z"),
    ],
)
def test_rfc3339_nano(value: int | datetime | None, text: str) -> None:
    assert rfc3339_nano(value) == text


async def test_read_json_errors() -> None:
    async def create(request: web.Request) -> web.Response:
        req = await read_json(request, ContainerCreateRequest)
        return web.Response(body=req.Image.encode())

    async def start(request: web.Request) -> web.Response:
        req = await read_json(request, ExecStartRequest, empty_ok=True)
        return web.Response(body=str(req.Tty).encode())

    def setup(app: web.Application) -> None:
        app.router.add_post("/containers/create", create)
        app.router.add_post("/exec/{id}/start", start)

    json_ct = {"Content-Type": "application/json"}
    async with serve_app(setup) as served:
        ok = await served.request("POST", "/containers/create", b'{"Image":"busybox"}', json_ct)
        wrong_ct = await served.request(
            "POST", "/containers/create", b'{"Image":"b"}', {"Content-Type": "text/plain"}
        )
        empty = await served.request("POST", "/containers/create", b"", json_ct)
        broken = await served.request("POST", "/containers/create", b"{nope", json_ct)
        bad_type = await served.request("POST", "/containers/create", b'{"Tty":"maybe"}', json_ct)
        empty_ok = await served.request("POST", "/exec/e1/start")
    assert (ok.status, ok.body) == (200, b"busybox")
    assert wrong_ct.status == 400
    assert json.loads(wrong_ct.body) == {
        "message": "Content-Type specified (text/plain) must be 'application/json'"
    }
    assert empty.status == 400 and b"invalid JSON" in empty.body
    assert broken.status == 400 and b"invalid JSON" in broken.body
    assert bad_type.status == 400 and b"Tty" in bad_type.body
    assert (empty_ok.status, empty_ok.body) == (200, b"False")
