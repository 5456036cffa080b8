"""Media types of Docker schema2 and OCI image objects, and what each one is."""

from __future__ import annotations

from typing import Literal

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
# Schema 1 is only recognised so that it can be refused with a clear message.
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_LAYOUT_VERSION = "1.0.0"

# Annotations that carry image names in OCI layouts.
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"

MANIFEST_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
CONFIG_TYPES = frozenset({DOCKER_CONFIG, OCI_CONFIG})
SCHEMA1_TYPES = frozenset({DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED})

# What a registry is asked for, most wanted first.
MANIFEST_ACCEPT = (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX)

_GZIP_LAYERS = frozenset(
    {DOCKER_LAYER_GZIP, DOCKER_FOREIGN_LAYER_GZIP, OCI_LAYER_GZIP, OCI_LAYER_NONDIST_GZIP}
)
_ZSTD_LAYERS = frozenset({DOCKER_LAYER_ZSTD, OCI_LAYER_ZSTD, OCI_LAYER_NONDIST_ZSTD})
_PLAIN_LAYERS = frozenset({DOCKER_LAYER, OCI_LAYER, OCI_LAYER_NONDIST})

Compression = Literal["gzip", "zstd"] | None


def is_manifest(media_type: str) -> bool:
    return media_type in MANIFEST_TYPES


def is_index(media_type: str) -> bool:
    return media_type in INDEX_TYPES


def is_config(media_type: str) -> bool:
    return media_type in CONFIG_TYPES


def is_layer(media_type: str) -> bool:
    return media_type in _GZIP_LAYERS or media_type in _ZSTD_LAYERS or media_type in _PLAIN_LAYERS


def layer_compression(media_type: str) -> Compression:
    """How a layer blob of this type is compressed; None for a plain tar."""
    if media_type in _GZIP_LAYERS:
        return "gzip"
    if media_type in _ZSTD_LAYERS:
        return "zstd"
    return None


def docker_layer_type(compression: Compression) -> str:
    """The schema2 layer type for a blob compressed this way (what an import registers)."""
    if compression == "gzip":
        return DOCKER_LAYER_GZIP
    if compression == "zstd":
        return DOCKER_LAYER_ZSTD
    return DOCKER_LAYER
