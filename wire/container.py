"""Container bodies: create and update requests (pydantic); inspect, list, wait, update,
top and prune replies (TypedDicts, built by ``api/routes/presenters.py`` and the routes).

The order of a TypedDict's keys is dockerd's: a builder writes them in that order,
because ``docker inspect`` prints keys in the order they come.
"""

from typing import Any, NotRequired, TypedDict

from pydantic import Field

from wire.container_config import ContainerConfig
from wire.host_config import HostConfig, Resources, RestartPolicy
from wire.network import NetworkingConfig

# Aliases for fields named like their type (a class-body default would shadow it).
_HostConfig = HostConfig
_NetworkingConfig = NetworkingConfig
_RestartPolicy = RestartPolicy


# --- requests --------------------------------------------------------------------------


class ContainerCreateRequest(ContainerConfig):
    """``POST /containers/create``: Config fields at the top level, plus these two."""

    HostConfig: _HostConfig | None = None
    NetworkingConfig: _NetworkingConfig | None = None

    def parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The Config fields and the HostConfig, as JSON: what the daemon creates from."""
        config = self.model_dump(mode="json", exclude={"HostConfig", "NetworkingConfig"})
        host_config = self.HostConfig.to_dict() if self.HostConfig is not None else {}
        return config, host_config

    def endpoints_config(self) -> dict[str, Any] | None:
        """NetworkingConfig.EndpointsConfig as JSON: network name -> endpoint settings."""
        if self.NetworkingConfig is None:
            return None
        endpoints: dict[str, Any] | None = self.NetworkingConfig.to_dict().get("EndpointsConfig")
        return endpoints


class ContainerUpdateRequest(Resources):
    """``POST /containers/{id}/update``: the resources plus the restart policy."""

    RestartPolicy: _RestartPolicy = Field(default_factory=_RestartPolicy)


# --- replies ---------------------------------------------------------------------------


class ContainerCreateResponse(TypedDict):
    Id: str
    Warnings: list[str]


class HealthcheckResult(TypedDict):
    Start: str
    End: str
    ExitCode: int
    Output: str


class Health(TypedDict):
    Status: str
    FailingStreak: int
    Log: list[HealthcheckResult] | None


class ContainerState(TypedDict):
    Status: str  # created, running, paused, restarting, removing, exited, dead
    Running: bool
    Paused: bool
    Restarting: bool
    OOMKilled: bool
    Dead: bool
    Pid: int
    ExitCode: int
    Error: str
    StartedAt: str
    FinishedAt: str
    Health: NotRequired[Health]  # only for a container with a healthcheck


class GraphDriverData(TypedDict):
    Data: dict[str, str] | None
    Name: str


class MountPoint(TypedDict):
    """A mount as inspect and list report it."""

    Type: str
    Name: NotRequired[str]  # volumes only
    Source: str
    Destination: str
    Driver: NotRequired[str]  # volumes only
    Mode: str
    RW: bool
    Propagation: str


class NetworkSettings(TypedDict):
    """``NetworkSettings`` of inspect (moorage has no networks yet: all empty)."""

    Bridge: str
    SandboxID: str
    HairpinMode: bool
    LinkLocalIPv6Address: str
    LinkLocalIPv6PrefixLen: int
    Ports: dict[str, Any]
    SandboxKey: str
    SecondaryIPAddresses: list[dict[str, Any]] | None
    SecondaryIPv6Addresses: list[dict[str, Any]] | None
    EndpointID: str
    Gateway: str
    GlobalIPv6Address: str
    GlobalIPv6PrefixLen: int
    IPAddress: str
    IPPrefixLen: int
    IPv6Gateway: str
    MacAddress: str
    Networks: dict[str, Any]


class ContainerInspect(TypedDict):
    """``GET /containers/{id}/json``. HostConfig and Config are the stored dumps of
    the request models (``HostConfig``, ``ContainerConfig``), which give their shape."""

    Id: str
    Created: str
    Path: str
    Args: list[str]
    State: ContainerState
    Image: str
    ResolvConfPath: str
    HostnamePath: str
    HostsPath: str
    LogPath: str
    Name: str
    RestartCount: int
    Driver: str
    Platform: str
    MountLabel: str
    ProcessLabel: str
    AppArmorProfile: str
    ExecIDs: list[str] | None
    HostConfig: dict[str, Any]
    GraphDriver: GraphDriverData
    SizeRw: NotRequired[int]
    SizeRootFs: NotRequired[int]
    Mounts: list[MountPoint]
    Config: dict[str, Any]
    NetworkSettings: NetworkSettings


class SummaryHostConfig(TypedDict):
    NetworkMode: str


class SummaryNetworkSettings(TypedDict):
    Networks: dict[str, Any]


class ContainerSummary(TypedDict):
    """An entry of ``GET /containers/json``."""

    Id: str
    Names: list[str]
    Image: str
    ImageID: str
    Command: str
    Created: int  # unix seconds
    Ports: list[dict[str, Any]]
    SizeRw: NotRequired[int]  # with ?size=1 only
    SizeRootFs: NotRequired[int]
    Labels: dict[str, str]
    State: str
    Status: str
    HostConfig: SummaryHostConfig
    NetworkSettings: SummaryNetworkSettings
    Mounts: list[MountPoint]


class WaitError(TypedDict):
    Message: str


class WaitResponse(TypedDict):
    """``POST /containers/{id}/wait``: ``{"Error":null,"StatusCode":N}``."""

    Error: WaitError | None
    StatusCode: int


class ContainerUpdateResponse(TypedDict):
    Warnings: list[str] | None


class ContainerTopResponse(TypedDict):
    Processes: list[list[str]]
    Titles: list[str]


class ContainerPruneResponse(TypedDict):
    ContainersDeleted: list[str] | None
    SpaceReclaimed: int
