"""The whole spec from merged Config and normalized HostConfig."""

from __future__ import annotations

import re
import resource
from pathlib import Path
from typing import Any

import pytest

from daemon.oci.capabilities import CAPABILITY_NAMES, caps_from_mask
from daemon.oci.defaults import DEFAULT_CAPABILITIES, DEFAULT_PATH, MASKED_PATHS
from daemon.oci.errors import SpecError, StartError
from daemon.oci.etc_files import EtcPaths
from daemon.oci.hostconfig import normalize_host_config
from daemon.oci.merge import merge_config
from daemon.oci.rootfs import mapping_reader
from daemon.oci.spec import build_spec
from daemon.oci.sysinfo import SysInfo

CID = "f" * 64
MB = 1024 * 1024
DAEMON_CAPS = caps_from_mask(0x000001FFFEFFFFFF)
FILES = mapping_reader(
    {
        "/etc/passwd": b"root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        "/etc/group": b"root:x:0:\nnogroup:x:65534:\nstaff:x:50:nobody\n",
    }
)
FAKE_DEVICES = [{"path": "/dev/kvm", "type": "c", "major": 10, "minor": 232, "fileMode": 0o660,
                 "uid": 0, "gid": 0}]  # fmt: skip


def spec_for(request: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    merged = merge_config(request, {"Env": ["PATH=/bin"], "Cmd": ["sh"]}, container_id=CID)
    host_config = normalize_host_config(request.get("HostConfig") or {}, SysInfo(ncpu=2))
    options: dict[str, Any] = {
        "cgroup_parent": "/moorage",
        "daemon_caps": DAEMON_CAPS,
        "read_file": FILES,
        "list_host_devices": lambda: list(FAKE_DEVICES),
    }
    return build_spec(CID, merged.config, host_config, **(options | kwargs))


def mounts(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["destination"]: m for m in spec["mounts"]}


def ns_types(spec: dict[str, Any]) -> list[str]:
    return [ns["type"] for ns in spec["linux"]["namespaces"]]


def test_plain_container() -> None:
    spec = spec_for({"Cmd": ["echo", "hi"]})
    process = spec["process"]
    assert process["args"] == ["echo", "hi"]
    assert process["env"] == ["PATH=/bin", f"HOSTNAME={CID[:12]}"]
    assert process["cwd"] == "/"
    assert process["terminal"] is False
    assert process["user"] == {"uid": 0, "gid": 0}
    assert process["capabilities"]["bounding"] == DEFAULT_CAPABILITIES
    assert process["noNewPrivileges"] is False
    assert spec["hostname"] == CID[:12]
    assert spec["root"] == {"path": "rootfs", "readonly": False}
    assert spec["linux"]["cgroupsPath"] == f"/moorage/{CID}"
    assert spec["linux"]["maskedPaths"] == MASKED_PATHS
    assert spec["linux"]["seccomp"]["defaultErrnoRet"] == 1  # the default profile
    assert "devices" not in spec["linux"]
    assert ns_types(spec) == ["mount", "network", "uts", "pid", "ipc"]
    assert mounts(spec)["/dev/shm"]["options"][-1] == f"size={64 * MB}"
    assert "sysctl" not in spec["linux"]


def test_process_settings() -> None:
    spec = spec_for(
        {
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["exec app"],
            "Env": ["A=1"],
            "WorkingDir": "/work",
            "Tty": True,
            "User": "nobody",
            "Hostname": "web",
            "Domainname": "example.com",
            "HostConfig": {
                "GroupAdd": ["root"],
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": -1}],
                "SecurityOpt": ["no-new-privileges"],
                "OomScoreAdj": 500,
                "ConsoleSize": [30, 100],
                "Sysctls": {"net.ipv4.ip_forward": "1"},
            },
        },
        daemon_caps=caps_from_mask(0x1FFFFFFFFFF),  # with CAP_SYS_RESOURCE: any limit goes
    )
    process = spec["process"]
    assert process["args"] == ["/bin/sh", "-c", "exec app"]
    assert process["env"] == ["PATH=/bin", "HOSTNAME=web", "TERM=xterm", "A=1"]
    assert process["cwd"] == "/work"
    assert process["terminal"] is True
    assert process["user"] == {"uid": 65534, "gid": 65534, "additionalGids": [50, 0]}
    assert process["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 2**64 - 1, "soft": 1024}]
    assert process["noNewPrivileges"] is True
    assert process["oomScoreAdj"] == 500
    assert process["consoleSize"] == {"height": 30, "width": 100}
    assert spec["hostname"] == "web"
    assert spec["linux"]["sysctl"] == {
        "kernel.domainname": "example.com",
        "net.ipv4.ip_forward": "1",
    }


def test_default_path_when_nobody_sets_it() -> None:
    spec = build_spec(CID, {"Cmd": ["x"], "Hostname": "h"}, {}, cgroup_parent="/m")
    assert spec["process"]["env"][0] == f"PATH={DEFAULT_PATH}"


def test_unknown_user_fails_at_build() -> None:
    with pytest.raises(StartError, match="unable to find user ghost"):
        spec_for({"User": "ghost"})


def test_no_command() -> None:
    with pytest.raises(SpecError, match="No command specified"):
        build_spec(CID, {"Cmd": None}, {}, cgroup_parent="/m")


def test_capabilities_add_drop() -> None:
    spec = spec_for({"HostConfig": {"CapAdd": ["NET_ADMIN", "SYS_RESOURCE"], "CapDrop": ["ALL"]}})
    caps = spec["process"]["capabilities"]
    assert caps["bounding"] == caps["effective"] == caps["permitted"] == ["CAP_NET_ADMIN"]


def test_privileged() -> None:
    spec = spec_for({"HostConfig": {"Privileged": True, "ReadonlyRootfs": True}})
    caps = spec["process"]["capabilities"]["bounding"]
    assert caps == [c for c in CAPABILITY_NAMES[:38] if c != "CAP_SYS_RESOURCE"]
    linux = spec["linux"]
    assert "maskedPaths" not in linux and "readonlyPaths" not in linux
    assert "seccomp" not in linux  # privileged means unconfined, as with dockerd
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert linux["devices"] == FAKE_DEVICES
    assert "ro" not in mounts(spec)["/sys"]["options"]
    assert spec["root"]["readonly"] is True


def test_empty_masked_and_readonly_paths_lift_them() -> None:
    # What the CLI sends for --security-opt systempaths=unconfined.
    spec = spec_for({"HostConfig": {"MaskedPaths": [], "ReadonlyPaths": []}})
    assert (spec["linux"]["maskedPaths"], spec["linux"]["readonlyPaths"]) == ([], [])


def test_a_stored_systempaths_option_still_starts() -> None:
    # Made before create refused it: its paths were emptied at create, as the CLI does.
    stored = {"SecurityOpt": ["systempaths=unconfined"], "MaskedPaths": [], "ReadonlyPaths": []}
    spec = spec_for({"HostConfig": stored})
    assert (spec["linux"]["maskedPaths"], spec["linux"]["readonlyPaths"]) == ([], [])
    with pytest.raises(SpecError, match='invalid --security-opt 2: "systempaths=strict"'):
        spec_for({"HostConfig": {"SecurityOpt": ["systempaths=strict"]}})


def test_daemon_no_new_privileges_default_and_override() -> None:
    assert spec_for({}, no_new_privileges=True)["process"]["noNewPrivileges"] is True
    opted_out = {"HostConfig": {"SecurityOpt": ["no-new-privileges=false"]}}
    assert spec_for(opted_out, no_new_privileges=True)["process"]["noNewPrivileges"] is False


def test_seccomp_follows_the_capabilities_and_options() -> None:
    admin = spec_for({"HostConfig": {"CapAdd": ["SYS_ADMIN"]}})["linux"]["seccomp"]
    assert any("mount" in r["names"] for r in admin["syscalls"])
    plain = spec_for({})["linux"]["seccomp"]
    assert not any("mount" in r["names"] for r in plain["syscalls"])
    unconfined = spec_for({"HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}})
    assert "seccomp" not in unconfined["linux"]
    custom = '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}'
    spec = spec_for({"HostConfig": {"SecurityOpt": [f"seccomp={custom}"]}})
    assert spec["linux"]["seccomp"] == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": [],
        "syscalls": [],
    }


def test_ulimit_above_the_daemons_own_hard_limit_is_a_clear_error() -> None:
    own = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if own == resource.RLIM_INFINITY:
        pytest.skip("the daemon's nofile hard limit is unlimited here")
    at_own = {"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": own}]}}
    assert spec_for(at_own)["process"]["rlimits"][0]["hard"] == own
    for hard, shown in [(own + 1, str(own + 1)), (-1, "unlimited")]:
        above = {"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": hard}]}}
        message = (
            f"ulimit nofile: the hard limit {shown} is above the daemon's own ({own}), "
            "and the daemon lacks CAP_SYS_RESOURCE to raise it"
        )
        with pytest.raises(SpecError, match=re.escape(message)) as caught:
            spec_for(above)  # DAEMON_CAPS: this machine's bounding set, no CAP_SYS_RESOURCE
        assert caught.value.http_status == 400


def test_user_masked_paths_win() -> None:
    spec = spec_for({"HostConfig": {"MaskedPaths": [], "ReadonlyPaths": ["/proc/sys"]}})
    assert spec["linux"]["maskedPaths"] == []
    assert spec["linux"]["readonlyPaths"] == ["/proc/sys"]


def test_resources_and_cgroup_parent() -> None:
    spec = spec_for(
        {
            "HostConfig": {
                "Memory": 32 * MB,
                "NanoCpus": 500_000_000,
                "PidsLimit": 20,
                "CgroupParent": "/custom",
                "DeviceCgroupRules": ["c 10:* rw"],
            }
        }
    )
    resources = spec["linux"]["resources"]
    assert resources["memory"] == {"limit": 32 * MB, "swap": 64 * MB, "disableOOMKiller": False}
    assert resources["cpu"] == {"period": 100000, "quota": 50000}
    assert resources["pids"] == {"limit": 20}
    assert resources["devices"][0] == {"allow": False, "access": "rwm"}
    assert resources["devices"][-1] == {
        "allow": True, "type": "c", "major": 10, "minor": -1, "access": "rw",
    }  # fmt: skip
    assert spec["linux"]["cgroupsPath"] == f"/custom/{CID}"


def test_mapped_device() -> None:
    spec = spec_for({"HostConfig": {"Devices": [
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "r"}
    ]}})  # fmt: skip
    (device,) = spec["linux"]["devices"]
    assert device["path"] == "/dev/mynull" and device["type"] == "c"
    assert (device["major"], device["minor"]) == (1, 3)
    assert spec["linux"]["resources"]["devices"][-1] == {
        "allow": True, "type": "c", "major": 1, "minor": 3, "access": "r",
    }  # fmt: skip
    with pytest.raises(StartError, match='adding custom device "/dev/nope"'):
        spec_for({"HostConfig": {"Devices": [{"PathOnHost": "/dev/nope"}]}})


def test_namespace_modes() -> None:
    host = spec_for({"HostConfig": {"NetworkMode": "host", "PidMode": "host", "IpcMode": "host",
                                    "UTSMode": "host"}})  # fmt: skip
    assert ns_types(host) == ["mount"]
    assert "hostname" not in host
    assert mounts(host)["/dev/shm"]["type"] == "bind"

    asked: list[tuple[str, str]] = []

    def resolve(kind: str, target: str) -> str:
        asked.append((kind, target))
        return f"/proc/42/ns/{kind}"

    joined = spec_for(
        {"HostConfig": {"NetworkMode": "container:a", "PidMode": "container:b",
                        "IpcMode": "container:c", "CgroupnsMode": "private"}},
        resolve_namespace=resolve,
    )  # fmt: skip
    assert asked == [("network", "a"), ("pid", "b"), ("ipc", "c")]
    by_type = {ns["type"]: ns for ns in joined["linux"]["namespaces"]}
    assert by_type["network"] == {"type": "network", "path": "/proc/42/ns/network"}
    assert by_type["uts"] == {"type": "uts"}
    assert by_type["cgroup"] == {"type": "cgroup"}
    with pytest.raises(StartError):
        spec_for({"HostConfig": {"NetworkMode": "container:a"}})


def test_none_network_and_ipc() -> None:
    spec = spec_for({"HostConfig": {"NetworkMode": "none", "IpcMode": "none"}})
    assert "network" in ns_types(spec) and "ipc" in ns_types(spec)
    assert "/dev/shm" not in mounts(spec)


def test_mounts_in_spec(tmp_path: Path) -> None:
    etc = EtcPaths(str(tmp_path / "hostname"), str(tmp_path / "hosts"), None)
    spec = spec_for(
        {
            "HostConfig": {
                "Binds": [f"{tmp_path}:/data:ro"],
                "Mounts": [
                    {"Type": "tmpfs", "Target": "/data/cache", "TmpfsOptions": {"SizeBytes": MB}},
                    {"Type": "bind", "Source": str(tmp_path), "Target": "/etc/hostname"},
                ],
                "Tmpfs": {"/run": "rw,size=64m"},
                "ShmSize": 2 * MB,
                "ReadonlyRootfs": True,
            }
        },
        etc_paths=etc,
    )
    found = mounts(spec)
    assert found["/data"]["options"] == ["rbind", "ro", "rprivate"]
    assert found["/data/cache"]["options"] == ["noexec", "nosuid", "nodev", "rprivate", "size=1m"]
    assert found["/run"]["options"][-2:] == ["rw", "size=64m"]
    assert found["/dev/shm"]["options"][-1] == f"size={2 * MB}"
    assert found["/etc/hostname"]["source"] == str(tmp_path)  # the user's, not ours
    assert found["/etc/hosts"]["options"] == ["rbind", "ro", "rprivate"]
    assert "/etc/resolv.conf" not in found
    order = [m["destination"] for m in spec["mounts"]]
    assert order.index("/data") < order.index("/data/cache")


def test_annotations_go_to_the_runtime() -> None:
    # API 1.43's HostConfig.Annotations end up in the OCI spec runc gets.
    spec = spec_for({"HostConfig": {"Annotations": {"org.example/a": "1"}}})
    assert spec["annotations"] == {"org.example/a": "1"}
    assert "annotations" not in spec_for({})
