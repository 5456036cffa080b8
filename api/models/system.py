"""``GET /version`` and ``GET /info``."""

from typing import Annotated, Any

from pydantic import Field

from api.models.base import ApiModel, OmitEmpty


class ComponentVersion(ApiModel):
    Name: str = ""
    Version: str = ""
    Details: Annotated[dict[str, str] | None, OmitEmpty] = None


class PlatformInfo(ApiModel):
    Name: str = ""


class VersionResponse(ApiModel):
    """``GET /version``. The CLI prints it; ApiVersion is what it negotiates from."""

    Platform: PlatformInfo = Field(default_factory=PlatformInfo)
    Components: Annotated[list[ComponentVersion] | None, OmitEmpty] = None
    Version: str = ""
    ApiVersion: str = ""
    MinAPIVersion: Annotated[str, OmitEmpty] = ""
    GitCommit: str = ""
    GoVersion: str = ""
    Os: str = ""
    Arch: str = ""
    KernelVersion: Annotated[str, OmitEmpty] = ""
    Experimental: Annotated[bool, OmitEmpty] = False
    BuildTime: Annotated[str, OmitEmpty] = ""


class PluginsInfo(ApiModel):
    Volume: list[str] | None = None
    Network: list[str] | None = None
    Authorization: list[str] | None = None
    Log: list[str] | None = None


class IndexInfo(ApiModel):
    Name: str = ""
    Mirrors: list[str] | None = None
    Secure: bool = False
    Official: bool = False


class RegistryServiceConfig(ApiModel):
    AllowNondistributableArtifactsCIDRs: list[str] | None = None
    AllowNondistributableArtifactsHostnames: list[str] | None = None
    InsecureRegistryCIDRs: list[str] | None = None
    IndexConfigs: dict[str, IndexInfo] | None = None
    Mirrors: list[str] | None = None


class RuntimeInfo(ApiModel):
    """An entry of Info.Runtimes."""

    path: str = ""
    runtimeArgs: Annotated[list[str] | None, OmitEmpty] = None


class Commit(ApiModel):
    ID: str = ""
    Expected: str = ""


class SwarmInfo(ApiModel):
    """What a node outside any swarm reports."""

    NodeID: str = ""
    NodeAddr: str = ""
    LocalNodeState: str = "inactive"
    ControlAvailable: bool = False
    Error: str = ""
    RemoteManagers: list[dict[str, Any]] | None = None
    Nodes: Annotated[int, OmitEmpty] = 0
    Managers: Annotated[int, OmitEmpty] = 0
    Cluster: Annotated[dict[str, Any] | None, OmitEmpty] = None
    Warnings: Annotated[list[str] | None, OmitEmpty] = None


class InfoResponse(ApiModel):
    """``GET /info``."""

    ID: str = ""
    Containers: int = 0
    ContainersRunning: int = 0
    ContainersPaused: int = 0
    ContainersStopped: int = 0
    Images: int = 0
    Driver: str = ""
    DriverStatus: list[list[str]] | None = None
    SystemStatus: Annotated[list[list[str]] | None, OmitEmpty] = None
    Plugins: PluginsInfo = Field(default_factory=PluginsInfo)
    MemoryLimit: bool = False
    SwapLimit: bool = False
    KernelMemory: bool = False
    KernelMemoryTCP: bool = False
    CpuCfsPeriod: bool = False
    CpuCfsQuota: bool = False
    CPUShares: bool = False
    CPUSet: bool = False
    PidsLimit: bool = False
    IPv4Forwarding: bool = False
    BridgeNfIptables: bool = False
    BridgeNfIp6tables: bool = False
    Debug: bool = False
    NFd: int = 0
    OomKillDisable: bool = False
    NGoroutines: int = 0
    SystemTime: str = ""
    LoggingDriver: str = ""
    CgroupDriver: str = ""
    CgroupVersion: Annotated[str, OmitEmpty] = ""
    NEventsListener: int = 0
    KernelVersion: str = ""
    OperatingSystem: str = ""
    OSVersion: str = ""
    OSType: str = ""
    Architecture: str = ""
    IndexServerAddress: str = ""
    RegistryConfig: RegistryServiceConfig | None = None
    NCPU: int = 0
    MemTotal: int = 0
    GenericResources: list[dict[str, Any]] | None = None
    DockerRootDir: str = ""
    HttpProxy: str = ""
    HttpsProxy: str = ""
    NoProxy: str = ""
    Name: str = ""
    Labels: list[str] | None = None
    ExperimentalBuild: bool = False
    ServerVersion: str = ""
    ClusterStore: Annotated[str, OmitEmpty] = ""
    ClusterAdvertise: Annotated[str, OmitEmpty] = ""
    Runtimes: dict[str, RuntimeInfo] | None = None
    DefaultRuntime: str = ""
    Swarm: SwarmInfo = Field(default_factory=SwarmInfo)
    LiveRestoreEnabled: bool = False
    Isolation: str = ""
    InitBinary: str = ""
    ContainerdCommit: Commit = Field(default_factory=Commit)
    RuncCommit: Commit = Field(default_factory=Commit)
    InitCommit: Commit = Field(default_factory=Commit)
    SecurityOptions: list[str] | None = None
    ProductLicense: Annotated[str, OmitEmpty] = ""
    DefaultAddressPools: Annotated[list[dict[str, Any]] | None, OmitEmpty] = None
    Warnings: list[str] | None = None
