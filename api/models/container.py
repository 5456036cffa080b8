"""Container bodies: create, inspect, list, wait, update, top, prune."""

from typing import Annotated

from pydantic import Field

from api.models.base import ApiModel, OmitEmpty
from api.models.container_config import ContainerConfig
from api.models.host_config import HostConfig, Resources, RestartPolicy
from api.models.network import (
    NetworkingConfig,
    NetworkSettings,
    Port,
    SummaryNetworkSettings,
)
from daemon.timefmt import ZERO_TIME

# Aliases for fields named like their type (a class-body default would shadow it).
_HostConfig = HostConfig
_NetworkingConfig = NetworkingConfig
_NetworkSettings = NetworkSettings
_RestartPolicy = RestartPolicy


class ContainerCreateRequest(ContainerConfig):
    """``POST /containers/create``: Config fields at the top level, plus these two."""

    HostConfig: _HostConfig | None = None
    NetworkingConfig: _NetworkingConfig | None = None


class ContainerCreateResponse(ApiModel):
    Id: str
    Warnings: list[str] = Field(default_factory=list)


class HealthcheckResult(ApiModel):
    Start: str = ZERO_TIME
    End: str = ZERO_TIME
    ExitCode: int = 0
    Output: str = ""


class Health(ApiModel):
    Status: str = ""
    FailingStreak: int = 0
    Log: list[HealthcheckResult] | None = None


_Health = Health


class ContainerState(ApiModel):
    Status: str = ""  # created, running, paused, restarting, removing, exited, dead
    Running: bool = False
    Paused: bool = False
    Restarting: bool = False
    OOMKilled: bool = False
    Dead: bool = False
    Pid: int = 0
    ExitCode: int = 0
    Error: str = ""
    StartedAt: str = ZERO_TIME
    FinishedAt: str = ZERO_TIME
    Health: Annotated[_Health | None, OmitEmpty] = None


class GraphDriverData(ApiModel):
    Data: dict[str, str] | None = None
    Name: str = ""


class MountPoint(ApiModel):
    """A mount as inspect and list report it."""

    Type: Annotated[str, OmitEmpty] = ""
    Name: Annotated[str, OmitEmpty] = ""
    Source: str = ""
    Destination: str = ""
    Driver: Annotated[str, OmitEmpty] = ""
    Mode: str = ""
    RW: bool = False
    Propagation: str = ""


class ContainerInspect(ApiModel):
    """``GET /containers/{id}/json``."""

    Id: str = ""
    Created: str = ZERO_TIME
    Path: str = ""
    Args: list[str] | None = None
    State: ContainerState | None = None
    Image: str = ""
    ResolvConfPath: str = ""
    HostnamePath: str = ""
    HostsPath: str = ""
    LogPath: str = ""
    Name: str = ""
    RestartCount: int = 0
    Driver: str = ""
    Platform: str = ""
    MountLabel: str = ""
    ProcessLabel: str = ""
    AppArmorProfile: str = ""
    ExecIDs: list[str] | None = None
    HostConfig: _HostConfig | None = None
    GraphDriver: GraphDriverData = Field(default_factory=GraphDriverData)
    SizeRw: Annotated[int | None, OmitEmpty] = None
    SizeRootFs: Annotated[int | None, OmitEmpty] = None
    Mounts: list[MountPoint] | None = None
    config: ContainerConfig | None = Field(default=None, serialization_alias="Config")
    NetworkSettings: _NetworkSettings | None = None


class SummaryHostConfig(ApiModel):
    NetworkMode: Annotated[str, OmitEmpty] = ""


class ContainerSummary(ApiModel):
    """An entry of ``GET /containers/json``."""

    Id: str = ""
    Names: list[str] | None = None
    Image: str = ""
    ImageID: str = ""
    Command: str = ""
    Created: int = 0  # unix seconds
    Ports: list[Port] | None = None
    SizeRw: Annotated[int, OmitEmpty] = 0
    SizeRootFs: Annotated[int, OmitEmpty] = 0
    Labels: dict[str, str] | None = None
    State: str = ""
    Status: str = ""
    HostConfig: SummaryHostConfig = Field(default_factory=SummaryHostConfig)
    NetworkSettings: SummaryNetworkSettings | None = None
    Mounts: list[MountPoint] | None = None


class WaitError(ApiModel):
    Message: str = ""


class WaitResponse(ApiModel):
    """``POST /containers/{id}/wait``: ``{"Error":null,"StatusCode":N}``."""

    Error: WaitError | None = None
    StatusCode: int = 0


class ContainerUpdateRequest(Resources):
    """``POST /containers/{id}/update``: the resources plus the restart policy."""

    RestartPolicy: _RestartPolicy = Field(default_factory=_RestartPolicy)


class ContainerUpdateResponse(ApiModel):
    Warnings: list[str] | None = None


class ContainerTopResponse(ApiModel):
    Titles: list[str] | None = None
    Processes: list[list[str]] | None = None


class ContainerPruneResponse(ApiModel):
    ContainersDeleted: list[str] | None = None
    SpaceReclaimed: int = 0
