"""Image replies: ``GET /images/json``, ``/images/{name}/json`` and ``/history``
(dockerd 20.10's ``ImageSummary``, ``ImageInspect``, ``HistoryResponseItem``), built by
``daemon/images/views.py``."""

from typing import Any, NotRequired, TypedDict


class ImageSummary(TypedDict):
    Containers: int
    Created: int  # unix seconds
    Id: str
    Labels: dict[str, str] | None
    ParentId: str
    RepoDigests: list[str] | None
    RepoTags: list[str] | None
    SharedSize: int
    Size: int
    VirtualSize: int


class GraphDriverData(TypedDict):
    Data: dict[str, str] | None
    Name: str


class RootFS(TypedDict):
    Type: str
    Layers: NotRequired[list[str]]


class ImageMetadata(TypedDict):
    LastTagTime: str


class ImageInspect(TypedDict):
    Id: str
    RepoTags: list[str]
    RepoDigests: list[str]
    Parent: str
    Comment: str
    Created: str
    Container: str
    ContainerConfig: dict[str, Any]  # a Config, see wire.container_config.encode_config
    DockerVersion: str
    Author: str
    Config: dict[str, Any] | None
    Architecture: str
    Variant: NotRequired[str]
    Os: str
    OsVersion: NotRequired[str]
    Size: int
    VirtualSize: int
    GraphDriver: GraphDriverData
    RootFS: RootFS
    Metadata: ImageMetadata


class HistoryResponseItem(TypedDict):
    Comment: str
    Created: int
    CreatedBy: str
    Id: str
    Size: int
    Tags: list[str] | None


class ImageDeleteResponseItem(TypedDict, total=False):
    """One record of ``DELETE /images/{name}``: either key, never both."""

    Untagged: str
    Deleted: str


class ImagePruneResponse(TypedDict):
    ImagesDeleted: list[ImageDeleteResponseItem] | None
    SpaceReclaimed: int


class AuthResponse(TypedDict):
    """``POST /auth``."""

    IdentityToken: str
    Status: str
