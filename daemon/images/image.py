"""What the daemon knows of an image, held in memory so that using it costs no RPC.

`ImageContent` is what one image record's target resolves to (manifest, config,
layers); it never changes, as content is addressed by digest. `Image` is what
`ImageService.resolve` hands out: that content plus the image's current names,
a snapshot taken at the time of the call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from daemon.images.manifest import Manifest, ManifestError, parse_image_config
from daemon.images.reference import short_id
from daemon.timefmt import created_text, created_unix
from libcontainerd.digests import chain_ids
from libcontainerd.types import Descriptor


@dataclass(frozen=True)
class ImageContent:
    """A record's target and what is below it, read once from the content store."""

    target: Descriptor  # what the record points at: a manifest, or an index above it
    manifest: Descriptor  # the single-platform manifest that was unpacked
    manifest_bytes: bytes
    config_digest: str
    config_bytes: bytes
    config: dict[str, Any]
    layers: tuple[Descriptor, ...]  # the layer blobs, bottom first
    diff_ids: tuple[str, ...]
    chain_ids: tuple[str, ...]
    # The index above the manifest, when the target is one (its bytes, for push/save).
    index_bytes: bytes | None = None

    @property
    def id(self) -> str:
        return self.config_digest


def build_content(
    target: Descriptor,
    manifest_desc: Descriptor,
    manifest_bytes: bytes,
    manifest: Manifest,
    config_bytes: bytes,
    index_bytes: bytes | None = None,
) -> ImageContent:
    """Checks the config against the manifest and puts the pieces together.

    Raises ManifestError when they do not fit together.
    """
    image_config = parse_image_config(config_bytes)
    diff_ids = tuple(image_config.rootfs.diff_ids)
    if len(diff_ids) != len(manifest.layers):
        raise ManifestError(
            f"manifest {manifest_desc.digest} has {len(manifest.layers)} layers, "
            f"its config lists {len(diff_ids)}"
        )
    layers = tuple(
        Descriptor(layer.media_type, layer.digest, layer.size) for layer in manifest.layers
    )
    return ImageContent(
        target=target,
        manifest=manifest_desc,
        manifest_bytes=manifest_bytes,
        config_digest=manifest.config.digest,
        config_bytes=config_bytes,
        config=json.loads(config_bytes),
        layers=layers,
        diff_ids=diff_ids,
        chain_ids=tuple(chain_ids(diff_ids)),
        index_bytes=index_bytes,
    )


@dataclass(frozen=True)
class Image:
    """An image as the daemon sees it; `id` is the config digest (`sha256:...`)."""

    id: str
    content: ImageContent
    repo_tags: tuple[str, ...] = ()  # familiar: `busybox:latest`
    repo_digests: tuple[str, ...] = ()  # familiar: `busybox@sha256:...`
    references: tuple[str, ...] = ()  # the full names of its tag and digest records
    size: int = 0
    last_tag_time: str = ""
    layer_sizes: tuple[int, ...] = field(default=(), repr=False)

    @property
    def config(self) -> dict[str, Any]:
        """The image config document (architecture, os, config, rootfs, history...)."""
        return self.content.config

    @property
    def container_config(self) -> dict[str, Any]:
        """The config's `config` part: Env, Cmd, Entrypoint, WorkingDir, Labels..."""
        inner = self.content.config.get("config")
        return inner if isinstance(inner, dict) else {}

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return self.content.diff_ids

    @property
    def chain_ids(self) -> tuple[str, ...]:
        return self.content.chain_ids

    @property
    def chain_id(self) -> str:
        """The top layer's snapshot (the parent of a container's rootfs); "" if no layers."""
        return self.content.chain_ids[-1] if self.content.chain_ids else ""

    @property
    def created(self) -> str:
        """Creation time in Go's RFC3339Nano (`0001-01-01T00:00:00Z` when unknown)."""
        return created_text(self.content.config.get("created"))

    @property
    def created_unix(self) -> int:
        return created_unix(self.content.config.get("created"))

    @property
    def os(self) -> str:
        return str(self.content.config.get("os") or "")

    @property
    def architecture(self) -> str:
        return str(self.content.config.get("architecture") or "")

    @property
    def variant(self) -> str:
        return str(self.content.config.get("variant") or "")

    @property
    def labels(self) -> Mapping[str, str] | None:
        labels = self.container_config.get("Labels")
        return labels if isinstance(labels, dict) else None

    @property
    def dangling(self) -> bool:
        return not self.repo_tags and not self.repo_digests


@dataclass(frozen=True)
class ImageUse:
    """A container using an image; a running one blocks even a forced delete."""

    container_id: str
    running: bool = False
