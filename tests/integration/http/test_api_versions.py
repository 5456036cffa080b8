"""Docker's API version history, walked row by row against a real daemon.

Every row of ``wire.api_versions.CHANGES`` that moorage implements or refuses has a probe
here (or, for rows that need bridge networking, in
tests/integration/network/test_api_versions_network.py): one API call made at the version
just before the change and one at the change's version, each observed and compared with
what dockerd answers at that version. Out-of-range versions and the curl-at-1.24/1.56
shapes are at the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import tarfile
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.network.test_api_versions_network import NETWORK_PROBES
from tests.support.daemon import RunningDaemon
from tests.support.imagefactory import docker_save, make_image
from wire.api_versions import CHANGES, Change, Handling

DEADLINE = 20.0
MUX = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"
OTHER_PLATFORM = json.dumps({"os": "linux", "architecture": "s390x"})


@dataclass
class Ctx:
    daemon: RunningDaemon
    running: str  # a running busybox with a (slow) healthcheck, non-TTY
    made: list[str] = dataclasses.field(default_factory=list)  # containers to remove

    async def create(self, version: str, body: dict[str, Any]) -> tuple[int, Any]:
        """Create at `version`; (status, reply)."""
        reply = await self.daemon.call(
            "POST", "/containers/create", version=version, body={"Image": "busybox", **body}
        )
        decoded = reply.json()
        if reply.status == 201:
            self.made.append(decoded["Id"])
        return reply.status, decoded

    async def created(self, version: str, body: dict[str, Any]) -> str:
        status, reply = await self.create(version, body)
        assert status == 201, reply
        return str(reply["Id"])

    async def inspect(self, ref: str, version: str = "1.41") -> dict[str, Any]:
        reply = await self.daemon.call("GET", f"/containers/{ref}/json", version=version)
        assert reply.status == 200, reply.body
        result: dict[str, Any] = reply.json()
        return result

    async def image(self, name: str, version: str, **params: str) -> tuple[int, Any]:
        reply = await self.daemon.call(
            "GET", f"/images/{name}/json", version=version, params=list(params.items())
        )
        return reply.status, reply.json()


Observe = Callable[[Ctx, str], Awaitable[object]]


@dataclass(frozen=True)
class Probe:
    observe: Observe
    before: object  # what dockerd answers one version before the change
    at: object  # and at the change's version


PROBES: dict[str, Probe] = {}


def probe(key: str, before: object, at: object) -> Callable[[Observe], Observe]:
    def register(observe: Observe) -> Observe:
        assert key not in PROBES, key
        PROBES[key] = Probe(observe, before, at)
        return observe

    return register


def _unique() -> str:
    return uuid.uuid4().hex[:10]


async def _hijacked(ctx: Ctx, path: str, version: str, body: dict[str, Any]) -> tuple[str, bytes]:
    """A hijacked POST (Upgrade: tcp) at `version`: its Content-Type and all its output."""
    payload = json.dumps(body).encode()
    reader, writer = await asyncio.open_unix_connection(str(ctx.daemon.socket))
    try:
        writer.write(
            (
                f"POST /v{version}{path} HTTP/1.1\r\nHost: moorage\r\nConnection: Upgrade\r\n"
                f"Upgrade: tcp\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n"
            ).encode()
            + payload
        )
        async with asyncio.timeout(DEADLINE):
            head = await reader.readuntil(b"\r\n\r\n")
            output = await reader.read()
    finally:
        writer.close()
    content_type = ""
    for line in head.decode().split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "content-type":
            content_type = value.strip()
    return content_type, output


async def _exec(ctx: Ctx, body: dict[str, Any], version: str) -> str:
    reply = await ctx.daemon.call(
        "POST", f"/containers/{ctx.running}/exec", version=version, body=body
    )
    assert reply.status == 201, reply.body
    return str(reply.json()["Id"])


# --- before 1.42 ----------------------------------------------------------------------------


@probe("update-pids-limit", None, 50)
async def _update_pids_limit(ctx: Ctx, version: str) -> object:
    ref = await ctx.created("1.41", {})
    updated = await ctx.daemon.call(
        "POST", f"/containers/{ref}/update", version=version, body={"PidsLimit": 50}
    )
    assert updated.status == 200, updated.body
    return (await ctx.inspect(ref))["HostConfig"]["PidsLimit"]


@probe("images-filter-param", ["busybox:latest"], None)
async def _images_filter_param(ctx: Ctx, version: str) -> object:
    """`filter=busybox`: a reference filter before 1.41, ignored (everything listed) from."""
    listed = await ctx.daemon.call(
        "GET", "/images/json", version=version, params=[("filter", "busybox")]
    )
    tags = sorted(t for entry in listed.json() for t in entry["RepoTags"] or [])
    return tags if tags == ["busybox:latest"] else None


@probe("stats-one-shot", False, True)
async def _stats_one_shot(ctx: Ctx, version: str) -> object:
    """Whether the sample came without the priming one before it (preread unset)."""
    reply = await ctx.daemon.call(
        "GET", f"/containers/{ctx.running}/stats", version=version,
        params=[("stream", "0"), ("one-shot", "1")],
    )  # fmt: skip
    return reply.json()["preread"] == "0001-01-01T00:00:00Z"


# --- 1.42 ----------------------------------------------------------------------------------


@probe("hijack-content-type", RAW, MUX)
async def _hijack_content_type(ctx: Ctx, version: str) -> object:
    exec_id = await _exec(ctx, {"Cmd": ["true"], "AttachStdout": True}, version)
    content_type, _ = await _hijacked(ctx, f"/exec/{exec_id}/start", version, {})
    return content_type


@probe("logs-content-type", None, MUX)
async def _logs_content_type(ctx: Ctx, version: str) -> object:
    reply = await ctx.daemon.call(
        "GET", f"/containers/{ctx.running}/logs", version=version, params=[("stdout", "1")]
    )
    return reply.headers.get("Content-Type")


async def _wait_for_log(ctx: Ctx, ref: str, text: bytes, count: int = 1) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        reply = await ctx.daemon.call("GET", f"/containers/{ref}/logs", params=[("stdout", "1")])
        if reply.body.count(text) >= count:
            return
        assert time.monotonic() < deadline, f"{ref} never logged {text!r} {count} times"
        await asyncio.sleep(0.05)  # polling the log with a deadline, not a wait for state


@probe("stop-signal", ["4", "4"], ["3", "3"])
async def _stop_signal(ctx: Ctx, version: str) -> object:
    """How a restart and then a stop, both asked for SIGUSR1, ended the container."""
    script = "trap 'exit 3' USR1; trap 'exit 4' TERM; echo ready; while :; do sleep 0.1; done"
    ref = await ctx.created("1.41", {"Cmd": ["sh", "-c", script]})
    assert (await ctx.daemon.call("POST", f"/containers/{ref}/start")).status == 204
    since = str(time.time())
    for round_, action in enumerate(("restart", "stop"), start=1):
        await _wait_for_log(ctx, ref, b"ready", round_)
        done = await ctx.daemon.call(
            "POST", f"/containers/{ref}/{action}", version=version,
            params=[("signal", "USR1"), ("t", "20")],
        )  # fmt: skip
        assert done.status == 204, done.body
    filters = json.dumps({"container": [ref], "event": ["die"]})
    events = await ctx.daemon.call(
        "GET", "/events",
        params=[("since", since), ("until", str(int(time.time()) + 1)), ("filters", filters)],
    )  # fmt: skip
    return [
        json.loads(line)["Actor"]["Attributes"]["exitCode"] for line in events.body.splitlines()
    ]


@probe("df-type", ["BuildCache", "Containers", "Images", "LayersSize", "Volumes"], ["Volumes"])
async def _df_type(ctx: Ctx, version: str) -> object:
    reply = await ctx.daemon.call("GET", "/system/df", version=version, params=[("type", "volume")])
    assert reply.status == 200, reply.body
    return sorted(reply.json())


@probe("images-shared-size", False, True)
async def _images_shared_size(ctx: Ctx, version: str) -> object:
    reply = await ctx.daemon.call(
        "GET", "/images/json", version=version, params=[("shared-size", "1")]
    )
    return all(entry["SharedSize"] >= 0 for entry in reply.json())


def _rootfs_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        member = tarfile.TarInfo("hello.txt")
        member.size = 3
        tar.addfile(member, io.BytesIO(b"hi\n"))
    return buffer.getvalue()


@probe("import-platform", ("arm64", "linux", 400), ("arm64", "linux", 400))
async def _import_platform(ctx: Ctx, version: str) -> object:
    """An import's `platform` names the image's platform (unversioned)."""
    repo = f"probe-import-{_unique()}"
    imported = await ctx.daemon.call(
        "POST", "/images/create", version=version, body=_rootfs_tar(),
        params=[("fromSrc", "-"), ("repo", repo), ("tag", "v1"), ("platform", "linux/arm64")],
    )  # fmt: skip
    assert imported.status == 200 and b"error" not in imported.body, imported.body
    _, inspected = await ctx.image(f"{repo}:v1", version)
    await ctx.daemon.call("DELETE", f"/images/{repo}:v1")
    bad = await ctx.daemon.call(
        "POST", "/images/create", version=version, body=_rootfs_tar(),
        params=[("fromSrc", "-"), ("platform", "nope/nope")],
    )  # fmt: skip
    return inspected["Architecture"], inspected["Os"], bad.status


@probe(
    "wait-condition-400", (400, 'invalid condition: "bogus"'), (400, 'invalid condition: "bogus"')
)
async def _wait_condition(ctx: Ctx, version: str) -> object:
    reply = await ctx.daemon.call(
        "POST", f"/containers/{ctx.running}/wait", version=version, params=[("condition", "bogus")]
    )
    return reply.status, reply.message


@probe("kernel-memory", 64 << 20, 0)
async def _kernel_memory(ctx: Ctx, version: str) -> object:
    ref = await ctx.created(version, {"HostConfig": {"KernelMemory": 64 << 20}})
    return (await ctx.inspect(ref))["HostConfig"]["KernelMemory"]


@probe("kernel-memory-omitted", True, False)
async def _kernel_memory_omitted(ctx: Ctx, version: str) -> object:
    return "KernelMemory" in (await ctx.inspect(ctx.running, version))["HostConfig"]


@probe("create-console-size", [0, 0], [24, 80])
async def _create_console_size(ctx: Ctx, version: str) -> object:
    ref = await ctx.created(version, {"HostConfig": {"ConsoleSize": [24, 80]}})
    return (await ctx.inspect(ref))["HostConfig"]["ConsoleSize"]


@probe(
    "mount-options-type",
    (201, None),
    (400, 'VolumeOptions must not be specified on mount type "bind"'),
)
async def _mount_options_type(ctx: Ctx, version: str) -> object:
    mount = {"Type": "bind", "Source": "/tmp", "Target": "/x", "VolumeOptions": {"NoCopy": True}}
    status, reply = await ctx.create(version, {"HostConfig": {"Mounts": [mount]}})
    return status, reply.get("message")


# A terminal of no size: busybox's stty cannot tell it and says so instead.
@probe("create-mountpoint", (400, False), (201, True))
async def _create_mountpoint(ctx: Ctx, version: str) -> object:
    """A bind Mount whose host path is missing: made at start with CreateMountpoint."""
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "made" / "here"
        mount = {"Type": "bind", "Source": str(source), "Target": "/x",
                 "BindOptions": {"CreateMountpoint": True}}  # fmt: skip
        status, reply = await ctx.create(
            version, {"Cmd": ["true"], "HostConfig": {"Mounts": [mount]}}
        )
        if status == 201:
            started = await ctx.daemon.call("POST", f"/containers/{reply['Id']}/start")
            assert started.status == 204, started.body
        else:
            assert reply["message"].endswith(f"bind source path does not exist: {source}")
        return status, source.is_dir()


@probe("exec-console-size", False, True)
async def _exec_console_size(ctx: Ctx, version: str) -> object:
    body = {"Cmd": ["busybox", "stty", "size"], "Tty": True, "AttachStdin": True,
            "AttachStdout": True, "ConsoleSize": [30, 100]}  # fmt: skip
    exec_id = await _exec(ctx, body, version)
    _, output = await _hijacked(ctx, f"/exec/{exec_id}/start", version, {"Tty": True})
    return output.strip() == b"30 100"


@probe("volume-prune-all", True, False)
async def _volume_prune_all(ctx: Ctx, version: str) -> object:
    name, label = f"probe-{_unique()}", f"probe={_unique()}"
    made = await ctx.daemon.call(
        "POST", "/volumes/create", body={"Name": name, "Labels": dict([label.split("=")])}
    )
    assert made.status == 201, made.body
    pruned = await ctx.daemon.call(
        "POST", "/volumes/prune", version=version,
        params=[("filters", json.dumps({"label": [label]}))],
    )  # fmt: skip
    await ctx.daemon.call("DELETE", f"/volumes/{name}")
    return name in (pruned.json()["VolumesDeleted"] or [])


# --- 1.43 ----------------------------------------------------------------------------------


@probe("images-none-tags", ["<none>:<none>"], [])
async def _images_none_tags(ctx: Ctx, version: str) -> object:
    dangling = await ctx.daemon.call(
        "GET", "/images/json", version=version,
        params=[("filters", json.dumps({"dangling": ["true"]}))],
    )  # fmt: skip
    entries = dangling.json()
    assert entries, "the fixture commits one untagged image"
    return entries[0]["RepoTags"]


ANNOTATED = {"org.example.probe": "yes"}


@probe("annotations", None, ANNOTATED)
async def _annotations(ctx: Ctx, version: str) -> object:
    ref = await ctx.created(version, {"HostConfig": {"Annotations": ANNOTATED}})
    return (await ctx.inspect(ref, "1.56"))["HostConfig"].get("Annotations")


@probe("list-annotations", None, ANNOTATED)
async def _list_annotations(ctx: Ctx, version: str) -> object:
    ref = await ctx.created("1.56", {"HostConfig": {"Annotations": ANNOTATED}})
    listed = await ctx.daemon.call(
        "GET", "/containers/json", version=version,
        params=[("all", "1"), ("filters", json.dumps({"id": [ref]}))],
    )  # fmt: skip
    return listed.json()[0]["HostConfig"].get("Annotations")


# --- 1.44 ----------------------------------------------------------------------------------


@probe("images-until", (["busybox:latest"], []), (["busybox:latest"], []))
async def _images_until(ctx: Ctx, version: str) -> object:
    """busybox was made long ago: listed with until=now, not with until=2000-01-01."""
    shown = []
    for until in (str(int(time.time()) + 60), "2000-01-01"):
        listed = await ctx.daemon.call(
            "GET", "/images/json", version=version,
            params=[("filters", json.dumps({"until": [until], "reference": ["busybox"]}))],
        )  # fmt: skip
        assert listed.status == 200, listed.body
        shown.append([tag for entry in listed.json() for tag in entry["RepoTags"] or []])
    return tuple(shown)


@probe("virtual-size", (True, True), (False, False))
async def _virtual_size(ctx: Ctx, version: str) -> object:
    _, inspected = await ctx.image("busybox", version)
    listed = (await ctx.daemon.call("GET", "/images/json", version=version)).json()
    return "VirtualSize" in inspected, all("VirtualSize" in entry for entry in listed)


@probe(
    "ro-force-recursive",
    (400, "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer"),
    (400, 'rro is not supported by runtime "runc"'),
)
async def _ro_force_recursive(ctx: Ctx, version: str) -> object:
    mount = {"Type": "bind", "Source": "/tmp", "Target": "/x", "ReadOnly": True,
             "BindOptions": {"ReadOnlyForceRecursive": True}}  # fmt: skip
    status, reply = await ctx.create(version, {"HostConfig": {"Mounts": [mount]}})
    return status, reply.get("message")


@probe("health-start-interval", None, 10**9)
async def _health_start_interval(ctx: Ctx, version: str) -> object:
    health = {"Test": ["CMD", "true"], "Interval": 3600 * 10**9, "StartInterval": 10**9}
    ref = await ctx.created(version, {"Healthcheck": health})
    return (await ctx.inspect(ref))["Config"]["Healthcheck"].get("StartInterval")


DEPRECATED_MAC = (
    "The container-wide MacAddress field is now deprecated. "
    "It should be specified in EndpointsConfig instead."
)


@probe("endpoint-mac", [], [DEPRECATED_MAC])
async def _endpoint_mac(ctx: Ctx, version: str) -> object:
    status, reply = await ctx.create(version, {"MacAddress": "02:42:ac:11:00:09"})
    assert status == 201, reply
    return [w for w in reply["Warnings"] or [] if "MacAddress" in w]


@probe("image-created-omitted", "0001-01-01T00:00:00Z", None)
async def _image_created_omitted(ctx: Ctx, version: str) -> object:
    status, inspected = await ctx.image("probe/no-created:1", version)
    assert status == 200, inspected
    return inspected.get("Created")


# --- 1.45 ----------------------------------------------------------------------------------


@probe(
    "volume-subpath",
    (400, "VolumeOptions.Subpath needs API v1.45 or newer"),
    (400, "VolumeOptions.Subpath is not supported by this daemon"),
)
async def _volume_subpath(ctx: Ctx, version: str) -> object:
    mount = {"Type": "volume", "Source": "probe-sub", "Target": "/x",
             "VolumeOptions": {"Subpath": "a"}}  # fmt: skip
    status, reply = await ctx.create(version, {"HostConfig": {"Mounts": [mount]}})
    return status, reply.get("message")


@probe("image-container-config", (True, True), (False, False))
async def _image_container_config(ctx: Ctx, version: str) -> object:
    _, inspected = await ctx.image("busybox", version)
    return "Container" in inspected, "ContainerConfig" in inspected


# --- 1.46 ----------------------------------------------------------------------------------


@probe("info-cdi-spec-dirs", None, [])
async def _info_cdi(ctx: Ctx, version: str) -> object:
    info = (await ctx.daemon.call("GET", "/info", version=version)).json()
    assert list(info)[-1] == "Warnings"  # dockerd's last field at every version
    return info.get("CDISpecDirs")


@probe("info-containerd", None, "plugins.moby")
async def _info_containerd(ctx: Ctx, version: str) -> object:
    info = (await ctx.daemon.call("GET", "/info", version=version)).json()
    containerd = info.get("Containerd")
    return None if containerd is None else containerd["Namespaces"]["Plugins"]


@probe("push-platform", 200, 404)
async def _push_platform(ctx: Ctx, version: str) -> object:
    # A registry nobody listens on, on loopback: before 1.46 the push starts and fails
    # in its stream (200); from 1.46 the platform is checked first.
    name = f"127.0.0.1:9/probe-push-{_unique()}"
    tagged = await ctx.daemon.call(
        "POST", "/images/busybox/tag", params=[("repo", name), ("tag", "v1")]
    )
    assert tagged.status == 201, tagged.body
    try:
        pushed = await ctx.daemon.call(
            "POST", f"/images/{name}/push", version=version,
            params=[("tag", "v1"), ("platform", OTHER_PLATFORM)],
            headers={"X-Registry-Auth": "e30="},
        )  # fmt: skip
        return pushed.status
    finally:
        await ctx.daemon.call("DELETE", f"/images/{name}:v1")


async def _run_to_end(ctx: Ctx, version: str, body: dict[str, Any]) -> bytes:
    """Create at `version`, start, wait: its stdout."""
    ref = await ctx.created(version, body)
    assert (await ctx.daemon.call("POST", f"/containers/{ref}/start")).status == 204
    waited = await ctx.daemon.call("POST", f"/containers/{ref}/wait")
    assert waited.status == 200, waited.body
    logs = await ctx.daemon.call(
        "GET", f"/containers/{ref}/logs", params=[("stdout", "1"), ("stderr", "1")]
    )
    return logs.body[8:]  # one frame: the header, then the line


TMPFS_EXEC = {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"Options": [["exec"]]}}
_COPY_AND_RUN = ["sh", "-c", "cp /bin/busybox /t/busybox && /t/busybox echo ran"]


@probe("tmpfs-options", (b"ran\n", 'invalid mount config for type "tmpfs": invalid option: suid'),
       (b"ran\n", 'invalid mount config for type "tmpfs": invalid option: suid'))  # fmt: skip
async def _tmpfs_options(ctx: Ctx, version: str) -> object:
    """A tmpfs is noexec unless its Options say exec; only exec and noexec are allowed."""
    output = await _run_to_end(
        ctx, version, {"Cmd": _COPY_AND_RUN, "HostConfig": {"Mounts": [TMPFS_EXEC]}}
    )
    bad = {**TMPFS_EXEC, "TmpfsOptions": {"Options": [["suid"]]}}
    status, reply = await ctx.create(version, {"HostConfig": {"Mounts": [bad]}})
    assert status == 400, reply
    return output, reply["message"]


# --- 1.48 ----------------------------------------------------------------------------------


@probe("history-platform", 200, 404)
async def _history_platform(ctx: Ctx, version: str) -> object:
    reply = await ctx.daemon.call(
        "GET", "/images/busybox/history", version=version, params=[("platform", OTHER_PLATFORM)]
    )
    return reply.status


@probe("save-load-platform", 200, 404)
async def _save_platform(ctx: Ctx, version: str) -> object:
    reply = await ctx.daemon.call(
        "GET", "/images/busybox/get", version=version, params=[("platform", OTHER_PLATFORM)]
    )
    return reply.status


VOLUME_DRIVER_WARNING = (
    "WARNING: the container-wide volume-driver configuration is ignored for volumes "
    "specified via 'mount'. Use '--mount type=volume,volume-driver=...' instead"
)


@probe("volume-driver-warning", [], [VOLUME_DRIVER_WARNING])
async def _volume_driver_warning(ctx: Ctx, version: str) -> object:
    mount = {"Type": "volume", "Target": "/data"}
    status, reply = await ctx.create(
        version, {"HostConfig": {"VolumeDriver": "local", "Mounts": [mount]}}
    )
    assert status == 201, reply
    return [w for w in reply["Warnings"] or [] if "volume-driver" in w]


@probe("image-mounts", 'Mount type "Image" needs API v1.48 or newer', "mount type unknown")
async def _image_mounts(ctx: Ctx, version: str) -> object:
    mount = {"Type": "image", "Source": "busybox", "Target": "/x"}
    status, reply = await ctx.create(version, {"HostConfig": {"Mounts": [mount]}})
    assert status == 400, reply
    return str(reply["message"]).rsplit(": ", 1)[-1]


@probe("image-descriptor", (False, False), (True, True))
async def _image_descriptor(ctx: Ctx, version: str) -> object:
    _, inspected = await ctx.image("busybox", version)
    listed = (await ctx.daemon.call("GET", "/images/json", version=version)).json()
    entry = next(e for e in listed if e["Id"] == inspected["Id"])
    if "Descriptor" in inspected:
        assert inspected["Descriptor"] == entry["Descriptor"], entry
        assert inspected["Descriptor"]["digest"].startswith("sha256:")
    return "Descriptor" in inspected, "Descriptor" in entry


@probe("image-manifest-descriptor", (None, None), ("linux", "linux"))
async def _image_manifest_descriptor(ctx: Ctx, version: str) -> object:
    inspected = (await ctx.inspect(ctx.running, version)).get("ImageManifestDescriptor")
    listed = await ctx.daemon.call(
        "GET", "/containers/json", version=version,
        params=[("filters", json.dumps({"id": [ctx.running]}))],
    )  # fmt: skip
    summary = listed.json()[0].get("ImageManifestDescriptor")
    if inspected is None or summary is None:
        return inspected, summary
    assert inspected == summary and inspected["digest"].startswith("sha256:"), inspected
    assert inspected["mediaType"].endswith("manifest.v2+json"), inspected
    return inspected["platform"]["os"], summary["platform"]["os"]


# --- 1.49 ----------------------------------------------------------------------------------


@probe("inspect-platform", 200, 404)
async def _inspect_platform(ctx: Ctx, version: str) -> object:
    status, _ = await ctx.image("busybox", version, platform=OTHER_PLATFORM)
    return status


# --- 1.50 ----------------------------------------------------------------------------------


@probe("delete-platforms", 200, 404)
async def _delete_platforms(ctx: Ctx, version: str) -> object:
    name = f"probe-delete-{_unique()}"
    tagged = await ctx.daemon.call(
        "POST", "/images/busybox/tag", params=[("repo", name), ("tag", "v1")]
    )
    assert tagged.status == 201, tagged.body
    removed = await ctx.daemon.call(
        "DELETE", f"/images/{name}:v1", version=version, params=[("platforms", OTHER_PLATFORM)]
    )
    await ctx.daemon.call("DELETE", f"/images/{name}:v1")
    return removed.status


@probe("image-config-fields", True, False)
async def _image_config_fields(ctx: Ctx, version: str) -> object:
    _, inspected = await ctx.image("busybox", version)
    return "Tty" in inspected["Config"] and "Hostname" in inspected["Config"]


# --- 1.51 ----------------------------------------------------------------------------------


@probe("images-containers", -1, "counted")
async def _images_containers(ctx: Ctx, version: str) -> object:
    listed = (await ctx.daemon.call("GET", "/images/json", version=version)).json()
    busybox = next(entry for entry in listed if "busybox:latest" in (entry["RepoTags"] or []))
    if busybox["Containers"] == -1:
        return -1
    users = (await ctx.daemon.call("GET", "/containers/json?all=1")).json()
    assert busybox["Containers"] == sum(1 for c in users if c["ImageID"] == busybox["Id"])
    return "counted"


# --- 1.52 ----------------------------------------------------------------------------------


@probe(
    "multi-platform-params",
    "multiple platform parameters are not supported in this API version; "
    "use API version 1.52 or later",
    "multiple platforms not supported for this image store; "
    "use a multi-platform image store such as containerd-snapshotter",
)
async def _multi_platform(ctx: Ctx, version: str) -> object:
    reply = await ctx.daemon.call(
        "GET", "/images/get", version=version,
        params=[("names", "busybox"), ("platform", OTHER_PLATFORM), ("platform", OTHER_PLATFORM)],
    )  # fmt: skip
    assert reply.status == 400, reply.body
    return reply.message


async def _events(ctx: Ctx, version: str, accept: str = "") -> tuple[str, bytes]:
    reply = await ctx.daemon.call(
        "GET", "/events", version=version,
        params=[("since", "0"), ("until", str(int(time.time()) + 1))],
        headers={"Accept": accept} if accept else None,
    )  # fmt: skip
    assert reply.status == 200, reply.body
    return reply.headers.get("Content-Type", ""), reply.body


@probe("events-legacy", True, True)
async def _events_legacy(ctx: Ctx, version: str) -> object:
    _, body = await _events(ctx, version)
    first = json.loads(body.splitlines()[0])
    assert first["Type"] == "container"
    return "status" in first and "id" in first and "from" in first


@probe("events-content-type", ("application/json", False), ("application/json-seq", True))
async def _events_content_type(ctx: Ctx, version: str) -> object:
    content_type, body = await _events(ctx, version, "application/json-seq")
    return content_type, body.startswith(b"\x1e{")


EMPTY_BINDINGS = (
    "Following container port(s) have an empty list of port-bindings: 80/tcp. "
    "Such bindings will be discarded in a future version."
)


@probe("port-bindings-backfill", [], [EMPTY_BINDINGS])
async def _port_bindings_backfill(ctx: Ctx, version: str) -> object:
    body = {"ExposedPorts": {"80/tcp": {}}, "HostConfig": {"PortBindings": {"80/tcp": []}}}
    status, reply = await ctx.create(version, body)
    assert status == 201, reply
    return [w for w in reply["Warnings"] or [] if "port-bindings" in w]


@probe("image-omit-empty", True, False)
async def _image_omit_empty(ctx: Ctx, version: str) -> object:
    _, inspected = await ctx.image("busybox", version)
    return "Author" in inspected and "Comment" in inspected


@probe("container-onbuild", True, False)
async def _container_onbuild(ctx: Ctx, version: str) -> object:
    return "OnBuild" in (await ctx.inspect(ctx.running, version))["Config"]


@probe("network-settings-legacy", True, False)
async def _network_settings_legacy(ctx: Ctx, version: str) -> object:
    settings = (await ctx.inspect(ctx.running, version))["NetworkSettings"]
    return "IPAddress" in settings and "Bridge" in settings


@probe("kernel-memory-tcp", (8 << 20, True), (0, False))
async def _kernel_memory_tcp(ctx: Ctx, version: str) -> object:
    ref = await ctx.created(version, {"HostConfig": {"KernelMemoryTCP": 8 << 20}})
    stored = (await ctx.inspect(ref))["HostConfig"]["KernelMemoryTCP"]
    return stored, "KernelMemoryTCP" in (await ctx.inspect(ref, version))["HostConfig"]


@probe(
    "container-mac",
    201,
    "container-wide MAC address no longer supported; use endpoint-specific MAC address instead",
)
async def _container_mac(ctx: Ctx, version: str) -> object:
    status, reply = await ctx.create(version, {"MacAddress": "02:42:ac:11:00:0a"})
    return status if status == 201 else reply["message"]


@probe("stats-os-type", None, "linux")
async def _stats_os_type(ctx: Ctx, version: str) -> object:
    reply = await ctx.daemon.call(
        "GET", f"/containers/{ctx.running}/stats", version=version,
        params=[("stream", "0"), ("one-shot", "1")],
    )  # fmt: skip
    return reply.json().get("os_type")


@probe("df-usage", (False, True), (True, False))
async def _df_usage(ctx: Ctx, version: str) -> object:
    """Whether the usage totals come, and whether verbose still sends the legacy fields."""
    plain = (await ctx.daemon.call("GET", "/system/df", version=version)).json()
    verbose = await ctx.daemon.call("GET", "/system/df", version=version, params=[("verbose", "1")])
    images = plain.get("ImageUsage")
    if images is not None:
        # Counted from the same records as the legacy list, which 1.52 still sends.
        assert images["TotalCount"] == len(plain["Images"])
        assert images["TotalSize"] == plain["LayersSize"]
        assert len(verbose.json()["ImageUsage"]["Items"]) == images["TotalCount"]
    return images is not None, "Images" in verbose.json()


@probe("list-health", None, "starting")
async def _list_health(ctx: Ctx, version: str) -> object:
    listed = await ctx.daemon.call(
        "GET", "/containers/json", version=version,
        params=[("filters", json.dumps({"id": [ctx.running]}))],
    )  # fmt: skip
    (entry,) = listed.json()
    health = entry.get("Health")
    return None if health is None else health["Status"]


# --- 1.55 ----------------------------------------------------------------------------------


@probe("update-blkio-devices", None, [{"Path": "/dev/null", "Rate": 1048576}])
async def _update_blkio_devices(ctx: Ctx, version: str) -> object:
    ref = await ctx.created("1.41", {})
    updated = await ctx.daemon.call(
        "POST", f"/containers/{ref}/update", version=version,
        body={"BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1048576}]},
    )  # fmt: skip
    assert updated.status == 200, updated.body
    return (await ctx.inspect(ref))["HostConfig"]["BlkioDeviceReadBps"]


# --- the walk ------------------------------------------------------------------------------

ROWS = [c for c in CHANGES if c.handling is not Handling.NOT_APPLICABLE]


def _before(change: Change) -> str:
    return f"{change.version.major}.{change.version.minor - 1}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ctx(daemon: RunningDaemon) -> AsyncIterator[Ctx]:
    context = Ctx(daemon, "")
    health = {"Test": ["CMD", "true"], "Interval": 3600 * 10**9}
    context.running = await context.created(
        "1.41", {"Cmd": ["sleep", "600"], "Healthcheck": health}
    )
    started = await daemon.call("POST", f"/containers/{context.running}/start")
    assert started.status == 204, started.body
    # An untagged image (a commit without a name) and one whose config has no "created".
    committed = await daemon.call("POST", "/commit", params=[("container", context.running)])
    assert committed.status == 201, committed.body
    sample = make_image([4401])
    config = json.loads(sample.config)
    del config["created"]
    sample = dataclasses.replace(sample, config=json.dumps(config).encode())
    loaded = await daemon.call(
        "POST", "/images/load", body=docker_save([(sample, ["probe/no-created:1"])])
    )
    assert loaded.status == 200 and b"error" not in loaded.body, loaded.body
    try:
        yield context
    finally:
        for ref in [context.running, *context.made]:
            await daemon.call("DELETE", f"/containers/{ref}", params=[("force", "1"), ("v", "1")])
        await daemon.call("DELETE", "/images/probe/no-created:1")
        await daemon.call("DELETE", f"/images/{committed.json()['Id']}")


def test_every_implemented_or_refused_row_has_a_probe() -> None:
    probed = set(PROBES) | set(NETWORK_PROBES)
    assert {c.key for c in ROWS} == probed


@pytest.mark.parametrize("change", [c for c in ROWS if c.key in PROBES], ids=lambda c: c.key)
async def test_version_history_row(ctx: Ctx, change: Change) -> None:
    row = PROBES[change.key]
    assert await row.observe(ctx, _before(change)) == row.before, f"at {_before(change)}"
    assert await row.observe(ctx, str(change.version)) == row.at, f"at {change.version}"
