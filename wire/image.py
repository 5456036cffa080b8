"""Image replies: ``GET /images/json``, ``/images/{name}/json`` and ``/history``
(dockerd 20.10's ``ImageSummary``, ``ImageInspect``, ``HistoryResponseItem``), built by
``daemon/images/views.py``."""

from typing import Any, NotRequired, TypedDict, cast

from wire.api_versions import (
    IMAGE_CONFIG_OCI_ONLY,
    IMAGE_CREATED_OMITTED,
    IMAGE_DESCRIPTOR,
    IMAGE_INSPECT_NO_CONTAINER,
    IMAGE_INSPECT_OMIT_EMPTY,
    IMAGES_CONTAINERS_COUNT,
    IMAGES_NO_NONE_TAGS,
    IMAGES_SHARED_SIZE,
    NO_VIRTUAL_SIZE,
    ApiVersion,
)
from wire.container import OCIDescriptor


class ImageSummary(TypedDict):
    """Built at the newest version; ``summary_at`` gives an older version's shape."""

    Containers: int
    Created: int  # unix seconds
    Id: str
    Labels: dict[str, str] | None
    ParentId: str
    Descriptor: NotRequired[OCIDescriptor]  # API 1.48
    RepoDigests: list[str]
    RepoTags: list[str]
    SharedSize: int
    Size: int
    VirtualSize: NotRequired[int]  # before API 1.44


def summary_at(
    summary: ImageSummary,
    version: ApiVersion,
    *,
    containers: int = -1,
    shared_size: int | None = None,
) -> ImageSummary:
    """An ``ImageSummary`` as `version` shows it. `containers` counts the containers using
    the image; `shared_size` is given only when the client asked for it."""
    out = summary.copy()
    if IMAGES_CONTAINERS_COUNT.applies(version):
        out["Containers"] = containers
    if IMAGES_SHARED_SIZE.applies(version) and shared_size is not None:
        out["SharedSize"] = shared_size
    if not IMAGES_NO_NONE_TAGS.applies(version):
        # dockerd 20.10: untagged images named <none>, and null for a missing list.
        if not out["RepoTags"] and not out["RepoDigests"]:
            out["RepoTags"], out["RepoDigests"] = ["<none>:<none>"], ["<none>@<none>"]
        else:
            out["RepoTags"] = out["RepoTags"] or cast(list[str], None)
            out["RepoDigests"] = out["RepoDigests"] or cast(list[str], None)
    if not NO_VIRTUAL_SIZE.applies(version):
        out["VirtualSize"] = out["Size"]
    if not IMAGE_DESCRIPTOR.applies(version):
        out.pop("Descriptor", None)
    return out


class GraphDriverData(TypedDict):
    Data: dict[str, str] | None
    Name: str


class RootFS(TypedDict):
    Type: str
    Layers: NotRequired[list[str]]


class ImageMetadata(TypedDict):
    LastTagTime: str


class ImageInspect(TypedDict):
    """dockerd 20.10's full shape (API 1.41); ``inspect_at`` gives a version's."""

    Id: str
    RepoTags: list[str]
    RepoDigests: list[str]
    Parent: NotRequired[str]
    Comment: NotRequired[str]
    Created: NotRequired[str]  # "" when the config has none
    Container: NotRequired[str]
    ContainerConfig: NotRequired[dict[str, Any]]  # a Config, see wire.container_config
    DockerVersion: NotRequired[str]
    Author: NotRequired[str]
    Config: dict[str, Any] | None
    Architecture: str
    Variant: NotRequired[str]
    Os: str
    OsVersion: NotRequired[str]
    Size: int
    VirtualSize: NotRequired[int]
    GraphDriver: GraphDriverData
    RootFS: RootFS
    Metadata: ImageMetadata
    Descriptor: NotRequired[OCIDescriptor]  # API 1.48


# Go's zero time, what dockerd showed for an image config without "created".
ZERO_TIME = "0001-01-01T00:00:00Z"
# Config fields that belong to containers, not images: gone from API 1.50.
_CONTAINER_ONLY_CONFIG = (
    "Hostname", "Domainname", "AttachStdin", "AttachStdout", "AttachStderr",
    "Tty", "OpenStdin", "StdinOnce", "Image",
)  # fmt: skip
# Image config fields that are omitted when empty from API 1.52 (OCI's omitempty).
_OCI_OMIT_EMPTY_CONFIG = (
    "User", "Env", "Cmd", "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels",
)  # fmt: skip
_OMIT_EMPTY_TOP = ("Parent", "Comment", "DockerVersion", "Author")


def inspect_at(inspect: ImageInspect, version: ApiVersion) -> ImageInspect:
    """An ``ImageInspect`` (built in 1.41's shape) as `version` shows it."""
    out = inspect.copy()
    if not out.get("Created"):
        if IMAGE_CREATED_OMITTED.applies(version):
            out.pop("Created", None)
        else:
            out["Created"] = ZERO_TIME
    if IMAGE_INSPECT_NO_CONTAINER.applies(version):
        out.pop("Container", None)
        out.pop("ContainerConfig", None)
    if NO_VIRTUAL_SIZE.applies(version):
        out.pop("VirtualSize", None)
    if not IMAGE_DESCRIPTOR.applies(version):
        out.pop("Descriptor", None)
    config = out.get("Config")
    if config is not None and IMAGE_CONFIG_OCI_ONLY.applies(version):
        config = {k: v for k, v in config.items() if k not in _CONTAINER_ONLY_CONFIG}
    if IMAGE_INSPECT_OMIT_EMPTY.applies(version):
        for key in _OMIT_EMPTY_TOP:
            if not out.get(key):
                out.pop(key, None)  # type: ignore[misc]  # the keys are NotRequired
        if config is not None:
            config = {k: v for k, v in config.items() if k not in _OCI_OMIT_EMPTY_CONFIG or v}
    out["Config"] = config
    return out


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
