"""Container bodies: create and update requests (pydantic); inspect, list, wait, update,
top and prune replies (TypedDicts, built by ``api/routes/presenters.py`` and the routes).

The order of a TypedDict's keys is dockerd's: a builder writes them in that order,
because ``docker inspect`` prints keys in the order they come.
"""

from typing import Any, NotRequired, TypedDict, cast

from pydantic import Field

from wire.api_versions import (
    ALIASES_WITHOUT_SHORT_ID,
    ANNOTATIONS,
    CONSOLE_SIZE_AT_CREATE,
    CONTAINER_LIST_HEALTH,
    CONTAINER_MAC_REFUSED,
    CONTAINER_ONBUILD_OMITTED,
    DNS_NAMES,
    EMPTY_PORT_BINDINGS_WARNING,
    ENDPOINT_MAC_ADDRESS,
    HEALTH_START_INTERVAL,
    IMAGE_MANIFEST_DESCRIPTOR,
    IMAGE_MOUNTS,
    KERNEL_MEMORY_IGNORED,
    KERNEL_MEMORY_TCP_REMOVED,
    LIST_ANNOTATIONS,
    MOUNT_OPTIONS_MATCH_TYPE,
    MULTIPLE_ENDPOINTS,
    NETWORK_SETTINGS_NO_LEGACY,
    READ_ONLY_FORCE_RECURSIVE,
    UPDATE_BLKIO_DEVICES,
    VOLUME_DRIVER_WARNING,
    VOLUME_SUBPATH,
    ApiVersion,
    VersionRefusal,
)
from wire.container_config import ContainerConfig
from wire.host_config import HostConfig, Mount, Resources, RestartPolicy
from wire.network import EndpointSettings, NetworkingConfig

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

    def take_extra_endpoints(self) -> dict[str, EndpointSettings | None]:
        """Remove and return the endpoints beyond the NetworkMode's network (API 1.44
        creates a container on several networks; they are connected after the create)."""
        endpoints = self.NetworkingConfig.EndpointsConfig if self.NetworkingConfig else None
        if not endpoints or len(endpoints) < 2:
            return {}
        mode = self.HostConfig.NetworkMode if self.HostConfig is not None else ""
        main = mode if mode not in ("", "default") else "bridge"
        extra = {name: e for name, e in endpoints.items() if name != main}
        for name in extra:
            del endpoints[name]
        return extra

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


class OCIPlatform(TypedDict):
    architecture: str
    os: str
    variant: NotRequired[str]


class OCIDescriptor(TypedDict):
    """The image manifest a container was created from (API 1.48)."""

    mediaType: str
    digest: str
    size: int
    platform: NotRequired[OCIPlatform]


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
    ImageManifestDescriptor: NotRequired[OCIDescriptor]  # API 1.48
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
    Annotations: NotRequired[dict[str, str]]  # API 1.46, when there are any


class SummaryNetworkSettings(TypedDict):
    Networks: dict[str, Any]


class ContainerSummary(TypedDict):
    """An entry of ``GET /containers/json``."""

    Id: str
    Names: list[str]
    Image: str
    ImageID: str
    ImageManifestDescriptor: NotRequired[OCIDescriptor]  # API 1.48
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
    Health: NotRequired["HealthSummary"]  # API 1.52, containers with a healthcheck


class HealthSummary(TypedDict):
    Status: str
    FailingStreak: int


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


# --- API versions ----------------------------------------------------------------------
# A request is read and a reply built at the newest version; these give the older
# shapes, each switch named by its row of wire.api_versions.

_NETWORK_SETTINGS_KEPT = ("SandboxID", "SandboxKey", "Ports", "Networks")
_NOT_USER_NETWORKS = ("bridge", "host", "none", "default")


def create_at(body: ContainerCreateRequest, version: ApiVersion) -> list[str]:
    """Adapt a create request to what `version` means by it; dockerd's version-specific
    warnings. Raises ``VersionRefusal`` for what this version refuses."""
    host = body.HostConfig
    mounts = host.Mounts or [] if host is not None else []
    if host is not None:
        if KERNEL_MEMORY_IGNORED.applies(version):
            host.KernelMemory = 0
        if KERNEL_MEMORY_TCP_REMOVED.applies(version):
            host.KernelMemoryTCP = 0
        if not CONSOLE_SIZE_AT_CREATE.applies(version):
            host.ConsoleSize = (0, 0)
        if not ANNOTATIONS.applies(version):
            host.Annotations = None
    for mount in mounts:
        _mount_at(mount, version, host.Runtime if host is not None else "")
    if body.Healthcheck is not None and not HEALTH_START_INTERVAL.applies(version):
        body.Healthcheck.StartInterval = 0
    endpoints = body.NetworkingConfig.EndpointsConfig if body.NetworkingConfig else None
    if endpoints and len(endpoints) > 1 and not MULTIPLE_ENDPOINTS.applies(version):
        # dockerd 20.10's words (newer ones say "cannot be created with multiple").
        raise VersionRefusal(
            "Container cannot be connected to network endpoints: " + ", ".join(endpoints)
        )
    warnings = _mac_address_at(body, endpoints or {}, version)
    if host is not None:
        warnings += _host_config_warnings(host, version)
    return warnings


def _mac_address_at(
    body: ContainerCreateRequest,
    endpoints: dict[str, EndpointSettings | None],
    version: ApiVersion,
) -> list[str]:
    """The container-wide Config.MacAddress (per endpoint from 1.44, refused from 1.52)."""
    if not body.MacAddress:
        if not ENDPOINT_MAC_ADDRESS.applies(version):
            for endpoint in endpoints.values():  # the old API had no such field
                if endpoint is not None:
                    endpoint.MacAddress = ""
        return []
    if CONTAINER_MAC_REFUSED.applies(version):
        raise VersionRefusal(
            "container-wide MAC address no longer supported; "
            "use endpoint-specific MAC address instead"
        )
    if not ENDPOINT_MAC_ADDRESS.applies(version):
        return []
    mode = body.HostConfig.NetworkMode if body.HostConfig is not None else ""
    main = endpoints.get(mode if mode not in ("", "default") else "bridge")
    wanted = main.MacAddress if main is not None else ""
    if wanted and wanted.lower() != body.MacAddress.lower():
        raise VersionRefusal(
            "the container-wide MAC address must match the endpoint-specific MAC "
            "address for the main network, or be left empty"
        )
    return [
        "The container-wide MacAddress field is now deprecated. "
        "It should be specified in EndpointsConfig instead."
    ]


def _host_config_warnings(host: HostConfig, version: ApiVersion) -> list[str]:
    """dockerd's warnings about a HostConfig that only newer versions give."""
    warnings = []
    if host.PortBindings and EMPTY_PORT_BINDINGS_WARNING.applies(version):
        # Still published on a random port (the daemon backfills), but deprecated.
        empty = sorted(port for port, bindings in host.PortBindings.items() if not bindings)
        if empty:
            warnings.append(
                "Following container port(s) have an empty list of port-bindings: "
                f"{', '.join(empty)}. Such bindings will be discarded in a future version."
            )
    volume_mounts = [m for m in host.Mounts or [] if m.Type == "volume"]
    driver_named = [
        m
        for m in volume_mounts
        if m.VolumeOptions and m.VolumeOptions.DriverConfig and m.VolumeOptions.DriverConfig.Name
    ]
    unnamed = len(driver_named) < len(volume_mounts)
    if host.VolumeDriver and unnamed and VOLUME_DRIVER_WARNING.applies(version):
        warnings.append(
            "WARNING: the container-wide volume-driver configuration is ignored for "
            "volumes specified via 'mount'. Use '--mount type=volume,volume-driver=...' "
            "instead"
        )
    return warnings


def _mount_at(mount: Mount, version: ApiVersion, runtime: str) -> None:
    if MOUNT_OPTIONS_MATCH_TYPE.applies(version):
        for field, kind in (
            ("VolumeOptions", "volume"), ("BindOptions", "bind"), ("TmpfsOptions", "tmpfs"),
        ):  # fmt: skip
            if getattr(mount, field) is not None and mount.Type != kind:
                raise VersionRefusal(f'{field} must not be specified on mount type "{mount.Type}"')
    else:
        # Not validated before 1.42: dropped so that later checks do not refuse them.
        if mount.VolumeOptions is not None and mount.Type != "volume":
            mount.VolumeOptions = None
        if mount.TmpfsOptions is not None and mount.Type != "tmpfs":
            mount.TmpfsOptions = None
        if mount.BindOptions is not None:
            mount.BindOptions.CreateMountpoint = False
    bind = mount.BindOptions
    if mount.Type == "bind" and bind is not None and bind.ReadOnlyForceRecursive:
        if not READ_ONLY_FORCE_RECURSIVE.applies(version):
            raise VersionRefusal("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer")
        # Read-only binds stay non-recursive here, as with a runtime without "rro".
        raise VersionRefusal(f'rro is not supported by runtime "{runtime or "runc"}"')
    if mount.VolumeOptions is not None and mount.VolumeOptions.Subpath:
        if not VOLUME_SUBPATH.applies(version):
            raise VersionRefusal("VolumeOptions.Subpath needs API v1.45 or newer")
        raise VersionRefusal("VolumeOptions.Subpath is not supported by this daemon")
    if mount.Type == "image" and not IMAGE_MOUNTS.applies(version):
        raise VersionRefusal('Mount type "Image" needs API v1.48 or newer')


def update_at(body: ContainerUpdateRequest, version: ApiVersion) -> None:
    """Drop what `version` did not have, or no longer has, from an update request."""
    if KERNEL_MEMORY_IGNORED.applies(version):
        body.KernelMemory = 0
    if KERNEL_MEMORY_TCP_REMOVED.applies(version):
        body.KernelMemoryTCP = 0
    if not UPDATE_BLKIO_DEVICES.applies(version):
        body.BlkioWeightDevice = None
        body.BlkioDeviceReadBps = body.BlkioDeviceWriteBps = None
        body.BlkioDeviceReadIOps = body.BlkioDeviceWriteIOps = None


def endpoints_at(
    networks: dict[str, Any], container_id: str, version: ApiVersion
) -> dict[str, Any]:
    """EndpointSettings by network (built at the newest version) as `version` shows them."""
    if ALIASES_WITHOUT_SHORT_ID.applies(version) and DNS_NAMES.applies(version):
        return networks
    out: dict[str, Any] = {}
    for name, settings in networks.items():
        settings = dict(settings)
        if not DNS_NAMES.applies(version):
            settings.pop("DNSNames", None)
        if (
            not ALIASES_WITHOUT_SHORT_ID.applies(version)
            and name not in _NOT_USER_NETWORKS
            and settings.get("EndpointID")
        ):
            # Before 1.45 a running container's user-network aliases held its short ID.
            aliases = list(settings.get("Aliases") or [])
            if container_id[:12] not in aliases:
                aliases.append(container_id[:12])
            settings["Aliases"] = aliases
        out[name] = settings
    return out


def inspect_at(body: ContainerInspect, version: ApiVersion) -> ContainerInspect:
    """A ``ContainerInspect`` (NetworkSettings in 1.41's shape) as `version` shows it."""
    out = body.copy()
    if not IMAGE_MANIFEST_DESCRIPTOR.applies(version):
        out.pop("ImageManifestDescriptor", None)
    settings: dict[str, Any] = dict(out["NetworkSettings"])
    settings["Networks"] = endpoints_at(out["NetworkSettings"]["Networks"], out["Id"], version)
    if NETWORK_SETTINGS_NO_LEGACY.applies(version):
        settings = {k: settings[k] for k in _NETWORK_SETTINGS_KEPT if k in settings}
    out["NetworkSettings"] = cast(NetworkSettings, settings)
    if CONTAINER_ONBUILD_OMITTED.applies(version) and not out["Config"].get("OnBuild"):
        out["Config"] = {k: v for k, v in out["Config"].items() if k != "OnBuild"}
    host_config = out["HostConfig"]
    drop = set()
    if KERNEL_MEMORY_IGNORED.applies(version) and not host_config.get("KernelMemory"):
        drop.add("KernelMemory")
    unset_tcp = not host_config.get("KernelMemoryTCP")
    if KERNEL_MEMORY_TCP_REMOVED.applies(version) or (
        KERNEL_MEMORY_IGNORED.applies(version) and unset_tcp
    ):
        drop.add("KernelMemoryTCP")
    if drop:
        out["HostConfig"] = {k: v for k, v in host_config.items() if k not in drop}
    return out


def summary_at(
    summary: ContainerSummary, version: ApiVersion, health: Health | None
) -> ContainerSummary:
    """A ``ContainerSummary`` as `version` shows it; `health` is State.Health, if any."""
    out = summary.copy()
    if not IMAGE_MANIFEST_DESCRIPTOR.applies(version):
        out.pop("ImageManifestDescriptor", None)
    if not LIST_ANNOTATIONS.applies(version) and "Annotations" in out["HostConfig"]:
        out["HostConfig"] = {"NetworkMode": out["HostConfig"]["NetworkMode"]}
    networks: dict[str, Any] = out["NetworkSettings"]["Networks"]
    out["NetworkSettings"] = {"Networks": endpoints_at(networks, out["Id"], version)}
    if health is None or not CONTAINER_LIST_HEALTH.applies(version):
        return out
    shown: HealthSummary = {
        "Status": health["Status"],
        "FailingStreak": health["FailingStreak"],
    }
    ordered: dict[str, Any] = {}
    for key, value in out.items():
        ordered[key] = value
        if key == "HostConfig":  # where dockerd writes it
            ordered["Health"] = shown
    return cast(ContainerSummary, ordered)
