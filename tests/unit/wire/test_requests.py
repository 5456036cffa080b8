"""The wire models of requests: what clients send parses with Go's rules, and the
zero-valued shapes written from them (`ApiModel.encode`) are dockerd's."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web

from api.body import read_json
from daemon.timefmt import rfc3339_nano
from tests.unit.api.support import serve_app
from wire.container import ContainerCreateRequest, ContainerUpdateRequest
from wire.container_config import ContainerConfig
from wire.exec import ExecCreateRequest, ExecStartRequest
from wire.host_config import HostConfig, LogConfig, Mount, RestartPolicy
from wire.network import EndpointSettings


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
    body["HostConfig"]["SomethingNew"] = [1, 2]
    req = ContainerCreateRequest.model_validate(body)
    assert "FutureField" not in req.to_dict()
    assert req.HostConfig is not None and "SomethingNew" not in req.HostConfig.to_dict()


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


def test_config_omitempty_fields_appear_when_set() -> None:
    cfg = ContainerConfig(ExposedPorts={"80/tcp": {}}, StopSignal="SIGINT", StopTimeout=0)
    out = cfg.to_dict()
    assert out["ExposedPorts"] == {"80/tcp": {}}
    assert out["StopSignal"] == "SIGINT"
    assert out["StopTimeout"] == 0  # a pointer: zero is still written
    assert "Healthcheck" not in out and "MacAddress" not in out and "Shell" not in out
    # encode (of stored or image JSON) writes what to_dict (of a parsed body) writes.
    assert ContainerConfig.encode(out) == out


def test_encode_writes_the_zero_shape_in_order() -> None:
    zero = ContainerConfig.encode(None)
    assert zero == ContainerConfig().to_dict()
    assert list(zero) == [
        "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
        "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir",
        "Entrypoint", "OnBuild", "Labels",
    ]  # fmt: skip
    given = {"Labels": {"a": "b"}, "Cmd": ["sh"], "Hostname": "h", "Unknown": 1, "Shell": []}
    encoded = ContainerConfig.encode(given)
    assert list(encoded) == list(zero)  # unknown keys dropped, empty omitempty ones too
    assert (encoded["Hostname"], encoded["Cmd"], encoded["Labels"]) == ("h", ["sh"], {"a": "b"})
    host = HostConfig.encode({"Runtime": "runc", "NetworkMode": "none"})
    assert host == {**HostConfig().to_dict(), "NetworkMode": "none", "Runtime": "runc"}
    keys = list(host)
    assert keys[keys.index("ShmSize") + 1 : keys.index("ShmSize") + 3] == ["Runtime", "ConsoleSize"]


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
