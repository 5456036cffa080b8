"""Volume bodies: the create request (pydantic); list and prune replies (moorage has no
volumes yet, so nothing shapes a volume itself)."""

from typing import Any, TypedDict

from wire.base import ApiModel


class VolumeCreateRequest(ApiModel):
    Name: str = ""
    Driver: str = ""
    DriverOpts: dict[str, str] | None = None
    Labels: dict[str, str] | None = None


class VolumeListResponse(TypedDict):
    Volumes: list[dict[str, Any]]
    Warnings: list[str] | None


class VolumePruneResponse(TypedDict):
    VolumesDeleted: list[str] | None
    SpaceReclaimed: int
