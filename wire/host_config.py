"""HostConfig: how a container is run on the host (create, inspect, update).

Field order is dockerd's, so that ``docker inspect`` prints keys in the order
users know: the general fields, then the resources (shared with ``update``),
then mounts and paths.
"""

from typing import Annotated

from pydantic import Field

from wire.base import ApiModel, OmitEmpty, StrSlice, UintPair


class RestartPolicy(ApiModel):
    Name: str = ""
    MaximumRetryCount: int = 0


class LogConfig(ApiModel):
    Type: str = ""
    config: dict[str, str] | None = Field(default=None, serialization_alias="Config")


class Ulimit(ApiModel):
    Name: str = ""
    Hard: int = 0
    Soft: int = 0


class DeviceMapping(ApiModel):
    PathOnHost: str = ""
    PathInContainer: str = ""
    CgroupPermissions: str = ""


class WeightDevice(ApiModel):
    Path: str = ""
    Weight: int = 0


class ThrottleDevice(ApiModel):
    Path: str = ""
    Rate: int = 0


class DeviceRequest(ApiModel):
    Driver: str = ""
    Count: int = 0
    DeviceIDs: list[str] | None = None
    Capabilities: list[list[str]] | None = None
    Options: dict[str, str] | None = None


class PortBinding(ApiModel):
    HostIp: str = ""
    HostPort: str = ""


# "80/tcp" -> bindings.
PortMap = dict[str, list[PortBinding] | None]


class BindOptions(ApiModel):
    Propagation: Annotated[str, OmitEmpty] = ""
    NonRecursive: Annotated[bool, OmitEmpty] = False
    CreateMountpoint: Annotated[bool, OmitEmpty] = False  # API 1.42
    ReadOnlyNonRecursive: Annotated[bool, OmitEmpty] = False  # API 1.44
    ReadOnlyForceRecursive: Annotated[bool, OmitEmpty] = False  # API 1.44


class VolumeDriverConfig(ApiModel):
    Name: Annotated[str, OmitEmpty] = ""
    Options: Annotated[dict[str, str] | None, OmitEmpty] = None


class VolumeOptions(ApiModel):
    NoCopy: Annotated[bool, OmitEmpty] = False
    Labels: Annotated[dict[str, str] | None, OmitEmpty] = None
    DriverConfig: Annotated[VolumeDriverConfig | None, OmitEmpty] = None
    Subpath: Annotated[str, OmitEmpty] = ""  # API 1.45


class TmpfsOptions(ApiModel):
    SizeBytes: Annotated[int, OmitEmpty] = 0
    Mode: Annotated[int, OmitEmpty] = 0
    # API 1.46: [["noexec"]]: flags as one-element lists, key and value as two.
    Options: Annotated[list[list[str]] | None, OmitEmpty] = None


# Aliases for annotating fields that carry the name of their own type: in a
# class body the field's default would shadow the type before it is read.
_BindOptions = BindOptions
_VolumeOptions = VolumeOptions
_TmpfsOptions = TmpfsOptions
_LogConfig = LogConfig
_RestartPolicy = RestartPolicy


class Mount(ApiModel):
    """An entry of HostConfig.Mounts (``--mount``)."""

    Type: Annotated[str, OmitEmpty] = ""  # bind, volume, tmpfs, npipe
    Source: Annotated[str, OmitEmpty] = ""
    Target: Annotated[str, OmitEmpty] = ""
    ReadOnly: Annotated[bool, OmitEmpty] = False
    Consistency: Annotated[str, OmitEmpty] = ""
    BindOptions: Annotated[_BindOptions | None, OmitEmpty] = None
    VolumeOptions: Annotated[_VolumeOptions | None, OmitEmpty] = None
    TmpfsOptions: Annotated[_TmpfsOptions | None, OmitEmpty] = None


class Resources(ApiModel):
    """cgroup limits; also the body of ``POST /containers/{id}/update``.

    ``X | None`` fields are unset when None (MemorySwappiness -1 also means unset).
    """

    CpuShares: int = 0
    Memory: int = 0
    NanoCpus: int = 0
    CgroupParent: str = ""
    BlkioWeight: int = 0
    BlkioWeightDevice: list[WeightDevice] | None = None
    BlkioDeviceReadBps: list[ThrottleDevice] | None = None
    BlkioDeviceWriteBps: list[ThrottleDevice] | None = None
    BlkioDeviceReadIOps: list[ThrottleDevice] | None = None
    BlkioDeviceWriteIOps: list[ThrottleDevice] | None = None
    CpuPeriod: int = 0
    CpuQuota: int = 0
    CpuRealtimePeriod: int = 0
    CpuRealtimeRuntime: int = 0
    CpusetCpus: str = ""
    CpusetMems: str = ""
    Devices: list[DeviceMapping] | None = None
    DeviceCgroupRules: list[str] | None = None
    DeviceRequests: list[DeviceRequest] | None = None
    KernelMemory: int = 0
    KernelMemoryTCP: int = 0
    MemoryReservation: int = 0
    MemorySwap: int = 0
    MemorySwappiness: int | None = None
    OomKillDisable: bool | None = None
    PidsLimit: int | None = None
    Ulimits: list[Ulimit] | None = None
    CpuCount: int = 0
    CpuPercent: int = 0
    IOMaximumIOps: int = 0
    IOMaximumBandwidth: int = 0


class _HostConfigHead(ApiModel):
    # The fields dockerd lists before the resources.
    Binds: list[str] | None = None
    ContainerIDFile: str = ""
    LogConfig: _LogConfig = Field(default_factory=_LogConfig)
    NetworkMode: str = ""
    PortBindings: PortMap | None = None
    RestartPolicy: _RestartPolicy = Field(default_factory=_RestartPolicy)
    AutoRemove: bool = False
    VolumeDriver: str = ""
    VolumesFrom: list[str] | None = None
    CapAdd: StrSlice = None
    CapDrop: StrSlice = None
    CgroupnsMode: str = ""
    Dns: list[str] | None = None
    DnsOptions: list[str] | None = None
    DnsSearch: list[str] | None = None
    ExtraHosts: list[str] | None = None
    GroupAdd: list[str] | None = None
    IpcMode: str = ""
    Cgroup: str = ""
    Links: list[str] | None = None
    OomScoreAdj: int = 0
    PidMode: str = ""
    Privileged: bool = False
    PublishAllPorts: bool = False
    ReadonlyRootfs: bool = False
    SecurityOpt: list[str] | None = None
    StorageOpt: Annotated[dict[str, str] | None, OmitEmpty] = None
    Tmpfs: Annotated[dict[str, str] | None, OmitEmpty] = None
    UTSMode: str = ""
    UsernsMode: str = ""
    ShmSize: int = 0
    Sysctls: Annotated[dict[str, str] | None, OmitEmpty] = None
    Runtime: Annotated[str, OmitEmpty] = ""
    ConsoleSize: UintPair = (0, 0)
    Annotations: Annotated[dict[str, str] | None, OmitEmpty] = None  # API 1.43
    Isolation: str = ""


class HostConfig(Resources, _HostConfigHead):
    """Everything about how the container runs on the host."""

    Mounts: Annotated[list[Mount] | None, OmitEmpty] = None
    MaskedPaths: list[str] | None = None
    ReadonlyPaths: list[str] | None = None
    Init: Annotated[bool | None, OmitEmpty] = None
