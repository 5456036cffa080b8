"""Models of manifests, indexes and image configs, and picking a platform's manifest.

Field names are the JSON ones (aliases); unknown fields are kept so that a model
read from a registry or an archive loses nothing. Digests are always computed
over the original bytes, never over a re-serialised model.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from daemon.images import mediatypes
from daemon.images.platforms import PlatformSpec, host_platform, match_rank, normalize

# A manifest or index is small; anything bigger is refused before parsing.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_CONFIG_SIZE = 8 * 1024 * 1024


class ManifestError(ValueError):
    """A manifest, index or config is malformed or of an unsupported kind."""


class NoMatchingManifestError(ManifestError):
    """No entry of an index fits the wanted platform."""


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    def to_json(self) -> bytes:
        return json.dumps(
            self.model_dump(by_alias=True, exclude_none=True), separators=(",", ":")
        ).encode()


class Platform(_Model):
    architecture: str
    os: str
    os_version: str | None = Field(default=None, alias="os.version")
    os_features: list[str] | None = Field(default=None, alias="os.features")
    variant: str | None = None

    def spec(self) -> PlatformSpec:
        return normalize(self.os, self.architecture, self.variant)


class Descriptor(_Model):
    media_type: str = Field(alias="mediaType")
    digest: str
    size: int
    urls: list[str] | None = None
    annotations: dict[str, str] | None = None
    platform: Platform | None = None


class Manifest(_Model):
    """A single-platform image manifest (Docker schema2 or OCI)."""

    schema_version: int = Field(alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    config: Descriptor
    layers: list[Descriptor]
    annotations: dict[str, str] | None = None


class Index(_Model):
    """A manifest list (Docker) or image index (OCI)."""

    schema_version: int = Field(alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    manifests: list[Descriptor]
    annotations: dict[str, str] | None = None


class RootFS(_Model):
    type: str
    diff_ids: list[str] = Field(default_factory=list)


class HistoryEntry(_Model):
    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None


class ImageConfig(_Model):
    """The image config blob; `config` (Env, Cmd, ...) stays a dict for the API layer."""

    architecture: str = ""
    os: str = ""
    variant: str | None = None
    os_version: str | None = Field(default=None, alias="os.version")
    created: str | None = None
    author: str | None = None
    config: dict[str, Any] | None = None
    rootfs: RootFS
    history: list[HistoryEntry] | None = None

    def platform(self) -> PlatformSpec:
        return normalize(self.os, self.architecture, self.variant)


def parse_manifest(data: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parses a manifest or an index; `media_type` is the one the transport gave, if any."""
    if len(data) > MAX_MANIFEST_SIZE:
        raise ManifestError(f"manifest too large: {len(data)} bytes")
    raw = _load_object(data, "manifest")
    declared = raw.get("mediaType")
    kind = media_type or declared
    if kind in mediatypes.SCHEMA1_TYPES or raw.get("schemaVersion") == 1:
        raise ManifestError("unsupported manifest format: Docker schema 1 images are not supported")
    if kind is None:
        # OCI allows an undeclared type; the fields tell which object this is.
        kind = mediatypes.OCI_INDEX if "manifests" in raw else mediatypes.OCI_MANIFEST
    if declared is not None and media_type is not None and declared != media_type:
        raise ManifestError(f"manifest media type mismatch: {declared} sent as {media_type}")
    try:
        if mediatypes.is_index(kind):
            index = Index.model_validate(raw)
            index.media_type = index.media_type or kind
            _check_schema(index.schema_version)
            return index
        if mediatypes.is_manifest(kind):
            manifest = Manifest.model_validate(raw)
            manifest.media_type = manifest.media_type or kind
            _check_schema(manifest.schema_version)
            return manifest
    except ValidationError as exc:
        raise ManifestError(f"invalid manifest: {_first_error(exc)}") from None
    raise ManifestError(f"unsupported manifest media type: {kind}")


def parse_image_config(data: bytes) -> ImageConfig:
    if len(data) > MAX_CONFIG_SIZE:
        raise ManifestError(f"image config too large: {len(data)} bytes")
    try:
        return ImageConfig.model_validate(_load_object(data, "image config"))
    except ValidationError as exc:
        raise ManifestError(f"invalid image config: {_first_error(exc)}") from None


def select_manifest(index: Index, want: PlatformSpec | None = None) -> Descriptor:
    """The index entry that best fits `want` (default: this machine); first wins a tie."""
    target = want or host_platform()
    best: tuple[int, Descriptor] | None = None
    for entry in index.manifests:
        if entry.platform is None or not mediatypes.is_manifest(entry.media_type):
            continue
        rank = match_rank(
            target, entry.platform.os, entry.platform.architecture, entry.platform.variant
        )
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, entry)
    if best is None:
        raise NoMatchingManifestError(
            f"no matching manifest for {target} in the manifest list entries"
        )
    return best[1]


def build_docker_manifest(config: Descriptor, layers: list[Descriptor]) -> bytes:
    """A schema2 manifest for an image known by its config and layers (docker-save imports)."""
    document = {
        "schemaVersion": 2,
        "mediaType": mediatypes.DOCKER_MANIFEST,
        "config": _plain_descriptor(config),
        "layers": [_plain_descriptor(layer) for layer in layers],
    }
    return json.dumps(document, indent=2).encode()


def _plain_descriptor(desc: Descriptor) -> dict[str, Any]:
    return {"mediaType": desc.media_type, "size": desc.size, "digest": desc.digest}


def _check_schema(version: int) -> None:
    if version != 2:
        raise ManifestError(f"unsupported manifest schema version {version}")


def _load_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"invalid {what}: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"invalid {what}: not a JSON object")
    return raw


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])
