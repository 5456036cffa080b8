"""Volume bodies: the create request (pydantic); a volume, the list and prune replies."""

from typing import NotRequired, TypedDict

from wire.base import ApiModel


class VolumeCreateRequest(ApiModel):
    Name: str = ""
    Driver: str = ""
    DriverOpts: dict[str, str] | None = None
    Labels: dict[str, str] | None = None


class VolumeUsageData(TypedDict):
    Size: int  # bytes; -1 when not computed
    RefCount: int  # containers referencing the volume


class Volume(TypedDict):
    """A volume as inspect and list show it (UsageData in `system df` only)."""

    CreatedAt: str
    Driver: str
    Labels: dict[str, str] | None
    Mountpoint: str
    Name: str
    Options: dict[str, str] | None
    Scope: str
    UsageData: NotRequired[VolumeUsageData]


class VolumeListResponse(TypedDict):
    Volumes: list[Volume]
    Warnings: list[str] | None


class VolumePruneResponse(TypedDict):
    VolumesDeleted: list[str]
    SpaceReclaimed: int
