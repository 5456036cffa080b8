"""Images as the Engine API shows them: list summaries, inspect documents, history.

Field names, order and empty values are dockerd 20.10's (`ImageSummary`,
`ImageInspect`, `HistoryResponseItem`), because clients decode them as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.images.image import Image
from daemon.timefmt import created_unix
from wire.container import OCIDescriptor
from wire.container_config import ContainerConfig
from wire.image import HistoryResponseItem, ImageInspect, ImageSummary, RootFS


def container_config(raw: object) -> dict[str, Any]:
    """A container.Config object the way dockerd re-encodes one read from a config."""
    return ContainerConfig.encode(raw if isinstance(raw, Mapping) else None)


def summary(image: Image) -> ImageSummary:
    """One entry of `GET /images/json`, at the newest API version (`wire.image.summary_at`)."""
    tags = [] if image.dangling else list(image.repo_tags)
    return {
        "Containers": -1,
        "Created": image.created_unix,
        "Id": image.id,
        "Labels": dict(image.labels) if image.labels is not None else None,
        "ParentId": str(image.config.get("parent") or ""),
        "Descriptor": target_descriptor(image),
        "RepoDigests": list(image.repo_digests),
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": image.size,
    }


def inspect(image: Image, graph_driver: str) -> ImageInspect:
    """`GET /images/{name}/json` in API 1.41's shape (`wire.image.inspect_at`); Created is
    "" when the config has none."""
    config = image.config
    history = config.get("history") if isinstance(config.get("history"), list) else []
    comment = str(config.get("comment") or "")
    if not comment and history and isinstance(history[-1], dict):
        comment = str(history[-1].get("comment") or "")
    document: ImageInspect = {
        "Id": image.id,
        "RepoTags": list(image.repo_tags),
        "RepoDigests": list(image.repo_digests),
        "Parent": str(config.get("parent") or ""),
        "Comment": comment,
        "Created": image.created if config.get("created") else "",
        "Container": str(config.get("container") or ""),
        "ContainerConfig": container_config(config.get("container_config")),
        "DockerVersion": str(config.get("docker_version") or ""),
        "Author": str(config.get("author") or ""),
        "Config": container_config(config["config"]) if config.get("config") else None,
        "Architecture": image.architecture,
    }  # type: ignore[typeddict-item]  # the rest follows, in dockerd's order
    if image.variant:
        document["Variant"] = image.variant
    document["Os"] = image.os
    os_version = config.get("os.version")
    if os_version:
        document["OsVersion"] = str(os_version)
    rootfs: RootFS = {"Type": "layers"}
    if image.diff_ids:
        rootfs["Layers"] = list(image.diff_ids)
    document["Size"] = image.size
    document["VirtualSize"] = image.size
    document["GraphDriver"] = {"Data": None, "Name": graph_driver}
    document["RootFS"] = rootfs
    document["Metadata"] = {"LastTagTime": image.last_tag_time}
    document["Descriptor"] = target_descriptor(image)
    return document


def target_descriptor(image: Image) -> OCIDescriptor:
    """What the image's name points at in the content store: its manifest, or the index
    above it (API 1.48's Descriptor)."""
    target = image.content.target
    return {"mediaType": target.media_type, "digest": target.digest, "size": target.size}


def history(image: Image) -> list[HistoryResponseItem]:
    """`GET /images/{name}/history`: newest first; only the top entry has the ID and tags."""
    entries: list[HistoryResponseItem] = []
    raw = image.config.get("history")
    layer = 0
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        size = 0
        if not item.get("empty_layer"):
            if layer < len(image.layer_sizes):
                size = image.layer_sizes[layer]
            layer += 1
        entries.append(
            {
                "Comment": str(item.get("comment") or ""),
                "Created": created_unix(item.get("created")),
                "CreatedBy": str(item.get("created_by") or ""),
                "Id": "<missing>",
                "Size": size,
                "Tags": None,
            }
        )
    entries.reverse()
    if entries:
        entries[0]["Id"] = image.id
        entries[0]["Tags"] = list(image.repo_tags) or None
    return entries


def manifest_descriptor(image: Image) -> OCIDescriptor:
    """The platform manifest of `image`, as ImageManifestDescriptor shows it."""
    manifest = image.content.manifest
    descriptor: OCIDescriptor = {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": manifest.size,
        "platform": {"architecture": image.architecture, "os": image.os},
    }
    if image.variant:
        descriptor["platform"]["variant"] = image.variant
    return descriptor
