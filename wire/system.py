"""``GET /version`` and ``GET /info`` replies, built by ``api/routes/info.py``.

Info holds the fields moorage fills; dockerd 20.10 also sends KernelMemory,
BridgeNfIptables, Swarm, the *Commit objects and a few more,
which clients here do not need.
"""

from typing import Any, NotRequired, TypedDict, cast

from wire.api_versions import (
    DF_TYPE,
    DF_USAGE,
    INFO_CDI_SPEC_DIRS,
    INFO_CONTAINERD,
    INFO_FIREWALL_BACKEND,
    ApiVersion,
    VersionRefusal,
)
from wire.container import ContainerSummary
from wire.image import ImageSummary, summary_at
from wire.volume import Volume


class PlatformInfo(TypedDict):
    Name: str


class ComponentVersion(TypedDict):
    Name: str
    Version: str
    Details: dict[str, str]


class VersionResponse(TypedDict):
    """The CLI prints it; ApiVersion is what it negotiates from."""

    Platform: PlatformInfo
    Components: list[ComponentVersion]
    Version: str
    ApiVersion: str
    MinAPIVersion: str
    GitCommit: str
    GoVersion: str
    Os: str
    Arch: str
    KernelVersion: str


class PluginsInfo(TypedDict):
    Volume: list[str]
    Network: list[str]
    Authorization: list[str] | None
    Log: list[str]


class RuntimeInfo(TypedDict):
    """An entry of Info.Runtimes."""

    path: str
    runtimeArgs: NotRequired[list[str]]


class SwarmInfo(TypedDict):
    """A node's part in a swarm; moorage's is always "inactive"."""

    NodeID: str
    NodeAddr: str
    LocalNodeState: str
    ControlAvailable: bool
    Error: str
    RemoteManagers: None


class CommitInfo(TypedDict):
    ID: str
    Expected: str


class InfoResponse(TypedDict):
    ID: str
    Containers: int
    ContainersRunning: int
    ContainersPaused: int
    ContainersStopped: int
    Images: int
    Driver: str
    DriverStatus: list[list[str]]
    Plugins: PluginsInfo
    MemoryLimit: bool
    SwapLimit: bool
    CpuCfsPeriod: bool
    CpuCfsQuota: bool
    CPUShares: bool
    CPUSet: bool
    PidsLimit: bool
    IPv4Forwarding: bool
    Debug: bool
    NFd: int
    NGoroutines: int
    SystemTime: str
    LoggingDriver: str
    CgroupDriver: str
    CgroupVersion: str
    KernelVersion: str
    OperatingSystem: str
    OSType: str
    Architecture: str
    NCPU: int
    MemTotal: int
    DockerRootDir: str
    Name: str
    Labels: list[str]
    ExperimentalBuild: bool
    ServerVersion: str
    Runtimes: dict[str, RuntimeInfo]
    DefaultRuntime: str
    Swarm: SwarmInfo
    LiveRestoreEnabled: bool
    RegistryConfig: dict[str, Any]
    Isolation: str
    InitBinary: str
    ContainerdCommit: CommitInfo
    RuncCommit: CommitInfo
    SecurityOptions: list[str]
    FirewallBackend: NotRequired["FirewallInfo"]  # API 1.49, with bridge networking
    CDISpecDirs: NotRequired[list[str]]  # API 1.44
    Containerd: NotRequired["ContainerdInfo"]  # API 1.46
    Warnings: list[str] | None


class FirewallInfo(TypedDict):
    Driver: str


class ContainerdNamespaces(TypedDict):
    Containers: str
    Plugins: str


class ContainerdInfo(TypedDict):
    Address: str
    Namespaces: ContainerdNamespaces


def info_at(info: InfoResponse, version: ApiVersion) -> InfoResponse:
    """``/info`` (built at the newest version) as `version` shows it."""
    out = info.copy()
    if not INFO_CONTAINERD.applies(version):
        out.pop("Containerd", None)
    if not INFO_FIREWALL_BACKEND.applies(version):
        out.pop("FirewallBackend", None)
    if not INFO_CDI_SPEC_DIRS.applies(version):
        out.pop("CDISpecDirs", None)
    return out


# `type` values of /system/df (API 1.42) -> the legacy fields they fill.
_DF_TYPES = {
    "image": ("LayersSize", "Images"),
    "container": ("Containers",),
    "volume": ("Volumes",),
    "build-cache": ("BuildCache",),
}
_ACTIVE_STATES = ("running", "paused", "restarting")


def _totals(
    active: int, total: int, size: int, reclaimable: int, items: list[Any] | None
) -> dict[str, Any]:
    # Every field is omitempty: a type with nothing in it is {}.
    out = {"ActiveCount": active, "Items": items, "Reclaimable": reclaimable,
           "TotalCount": total, "TotalSize": size}  # fmt: skip
    return {key: value for key, value in out.items() if value}


def _usage(legacy: "DiskUsage", kind: str, verbose: bool) -> dict[str, Any]:
    """API 1.52's ImageUsage, ContainerUsage, VolumeUsage and BuildCacheUsage, counted as
    dockerd counts them from the same records."""
    if kind == "image":
        images = legacy["Images"]
        return _totals(
            sum(1 for i in images if i["Containers"] > 0),
            len(images),
            legacy["LayersSize"],
            sum(i["Size"] - max(i["SharedSize"], 0) for i in images if i["Containers"] == 0),
            list(images) if verbose else None,
        )
    if kind == "container":
        containers = legacy["Containers"]
        idle = [c for c in containers if c["State"] not in _ACTIVE_STATES]
        return _totals(
            len(containers) - len(idle),
            len(containers),
            sum(c.get("SizeRw", 0) for c in containers),
            sum(c.get("SizeRw", 0) for c in idle),
            list(containers) if verbose else None,
        )
    if kind == "volume":
        volumes = legacy["Volumes"]
        sized = [v["UsageData"] for v in volumes if "UsageData" in v]
        sized = [u for u in sized if u["Size"] != -1]
        return _totals(
            len(volumes) - sum(1 for u in sized if u["RefCount"] == 0),
            len(volumes),
            sum(u["Size"] for u in sized),
            sum(u["Size"] for u in sized if u["RefCount"] == 0),
            list(volumes) if verbose else None,
        )
    return _totals(0, 0, 0, 0, None)  # no build cache here


def disk_usage_at(
    usage: "DiskUsage",
    version: ApiVersion,
    *,
    types: list[str] | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """``/system/df`` (built in 1.41's shape) as `version` shows it: only the object
    `types` asked for (1.42), the per-type usage totals and `verbose` (1.52). Raises
    ``VersionRefusal`` for an unknown type."""
    legacy: dict[str, Any] = dict(usage)
    legacy["Images"] = [summary_at(i, version, containers=i["Containers"]) for i in usage["Images"]]
    kinds = list(_DF_TYPES)
    if types and DF_TYPE.applies(version):
        for kind in types:
            if kind not in _DF_TYPES:
                raise VersionRefusal(f"unknown object type: {kind}")
        kinds = [k for k in _DF_TYPES if k in types]
        legacy = {
            key: value for key, value in legacy.items() if any(key in _DF_TYPES[k] for k in kinds)
        }
    if not DF_USAGE.applies(version):
        return legacy
    out = {} if verbose else legacy
    shaped = cast("DiskUsage", {**usage, "Images": legacy.get("Images", [])})
    names = {"image": "ImageUsage", "container": "ContainerUsage",
             "volume": "VolumeUsage", "build-cache": "BuildCacheUsage"}  # fmt: skip
    for kind in kinds:
        out[names[kind]] = _usage(shaped, kind, verbose)
    return out


class DiskUsage(TypedDict):
    """``GET /system/df``."""

    LayersSize: int
    Images: list[ImageSummary]
    Containers: list[ContainerSummary]
    Volumes: list[Volume]
    BuildCache: list[dict[str, Any]]
