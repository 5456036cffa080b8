"""`GET /version` and `GET /info`."""

from __future__ import annotations

import ipaddress
import os
import platform
from typing import Any

from aiohttp import web

from daemon.container.model import Status
from daemon.oci import apparmor_enabled, info_security_options
from wire.system import CommitInfo, InfoResponse, VersionResponse, info_at

from ..versioning import CURRENT_API_VERSION, MIN_API_VERSION, api_version
from .common import DAEMON, json_reply

VERSION = "0.1.0"


async def version(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    containerd_version = daemon.containerd_version
    uname = platform.uname()
    body: VersionResponse = {
        "Platform": {"Name": "moorage"},
        "Components": [
            {
                "Name": "Engine",
                "Version": VERSION,
                "Details": {
                    "ApiVersion": str(CURRENT_API_VERSION),
                    "Arch": _arch(),
                    "GitCommit": "",
                    "GoVersion": f"python{platform.python_version()}",
                    "KernelVersion": uname.release,
                    "MinAPIVersion": str(MIN_API_VERSION),
                    "Os": "linux",
                },
            },
            {
                "Name": "containerd",
                "Version": containerd_version[0],
                "Details": {"GitCommit": containerd_version[1]},
            },
        ],
        "Version": VERSION,
        "ApiVersion": str(CURRENT_API_VERSION),
        "MinAPIVersion": str(MIN_API_VERSION),
        "GitCommit": "",
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": _arch(),
        "KernelVersion": uname.release,
    }
    return json_reply(body)


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


async def info(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    config = daemon.config
    lives = daemon.containers()
    counts = {s: 0 for s in Status}
    for live in lives:
        counts[live.model.state.status] += 1
    uname = platform.uname()
    containerd_commit, runc_commit = _commits(
        daemon.config.containerd_backend, daemon.containerd_version[1]
    )
    body: InfoResponse = {
        "ID": daemon.daemon_id,
        "Containers": len(lives),
        "ContainersRunning": counts[Status.RUNNING],
        "ContainersPaused": counts[Status.PAUSED],
        "ContainersStopped": len(lives) - counts[Status.RUNNING] - counts[Status.PAUSED],
        "Images": daemon.image_count(),
        "Driver": "overlayfs",
        "DriverStatus": [],
        "Plugins": {
            "Volume": [],
            "Network": ["host", "null"],
            "Authorization": None,
            "Log": ["json-file"],
        },
        "MemoryLimit": True,
        "SwapLimit": True,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": False,
        "Debug": config.debug,
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 0,
        "SystemTime": "",
        "LoggingDriver": config.log_driver,
        "CgroupDriver": config.cgroup_driver,
        "CgroupVersion": _CGROUP_VERSION,
        "KernelVersion": uname.release,
        "OperatingSystem": _OS_NAME,
        "OSType": "linux",
        "Architecture": uname.machine,
        "NCPU": os.cpu_count() or 1,
        "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "DockerRootDir": str(config.data_root),
        "Name": uname.node,
        "Labels": list(config.labels),
        "ExperimentalBuild": False,
        "ServerVersion": VERSION,
        "Runtimes": {r.name: r.as_info() for r in daemon.runtimes},
        "DefaultRuntime": daemon.runtimes.default,
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "LiveRestoreEnabled": config.live_restore,
        "RegistryConfig": registry_info(config.insecure_registries, config.registry_mirrors),
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": containerd_commit,
        "RuncCommit": runc_commit,
        "SecurityOptions": info_security_options(_APPARMOR, config.seccomp_profile),
    }  # type: ignore[typeddict-item]  # the rest follows, in dockerd's order
    if config.networking:
        body["FirewallBackend"] = {"Driver": "nftables"}
    body["CDISpecDirs"] = []  # no CDI: dockerd without experimental says so too
    if config.containerd_backend != "local":  # the local backend has no containerd
        body["Containerd"] = {
            "Address": config.containerd
            or str(config.exec_root / "containerd" / "containerd.sock"),  # the managed one's
            "Namespaces": {"Containers": config.containerd_namespace, "Plugins": "plugins.moby"},
        }
    body["Warnings"] = None
    return json_reply(info_at(body, api_version(request)))


def registry_info(insecure: list[str], mirrors: list[str]) -> dict[str, Any]:
    """Info.RegistryConfig as dockerd shapes it: insecure registries given by CIDR, the
    others (and Docker Hub with its mirrors) as index entries; loopback always insecure."""
    cidrs = ["127.0.0.0/8"]
    indexes: dict[str, dict[str, Any]] = {}
    for entry in insecure:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            indexes[entry] = {"Name": entry, "Mirrors": [], "Secure": False, "Official": False}
        else:
            if "/" in entry and str(network) not in cidrs:
                cidrs.append(str(network))
            elif "/" not in entry:
                indexes[entry] = {"Name": entry, "Mirrors": [], "Secure": False, "Official": False}
    shown_mirrors = [m if m.endswith("/") else m + "/" for m in mirrors]
    indexes["docker.io"] = {
        "Name": "docker.io",
        "Mirrors": shown_mirrors,
        "Secure": True,
        "Official": True,
    }
    return {
        "AllowNondistributableArtifactsCIDRs": [],
        "AllowNondistributableArtifactsHostnames": [],
        "InsecureRegistryCIDRs": cidrs,
        "IndexConfigs": indexes,
        "Mirrors": shown_mirrors,
    }


def _commits(backend: str, commit: str) -> tuple[CommitInfo, CommitInfo]:
    """`docker info`'s containerd and runc versions, which also say which libcontainerd
    backend runs: the local one has no containerd, and its version is runc's."""
    if backend == "local":
        none: CommitInfo = {"ID": "none (local backend: runc without containerd)", "Expected": ""}
        return none, {"ID": commit, "Expected": commit}
    return {"ID": commit, "Expected": commit}, {"ID": "", "Expected": ""}


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


_CGROUP_VERSION = "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"
_OS_NAME = _os_name()
_APPARMOR = apparmor_enabled()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/version", version)
    router.add_get("/info", info)
