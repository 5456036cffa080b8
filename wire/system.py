"""``GET /version`` and ``GET /info`` replies, built by ``api/routes/info.py``.

Info holds the fields moorage fills; dockerd 20.10 also sends KernelMemory,
BridgeNfIptables, RegistryConfig, Swarm, the *Commit objects and a few more,
which clients here do not need.
"""

from typing import Any, NotRequired, TypedDict

from wire.container import ContainerSummary
from wire.image import ImageSummary
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
    Isolation: str
    InitBinary: str
    ContainerdCommit: CommitInfo
    RuncCommit: CommitInfo
    SecurityOptions: list[str]
    Warnings: list[str] | None


class DiskUsage(TypedDict):
    """``GET /system/df``."""

    LayersSize: int
    Images: list[ImageSummary]
    Containers: list[ContainerSummary]
    Volumes: list[Volume]
    BuildCache: list[dict[str, Any]]
