"""Deterministic test images built from the host's static busybox.

Every byte is fixed (mtimes, owners, JSON key order, gzip header), so two builds
on one machine give the same digests and tests can assert on image IDs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from libcontainerd.digests import chain_ids, sha256_digest

BUSYBOX = Path("/bin/busybox")

# 2024-01-01T00:00:00Z; a fixed, non-zero time because some tools treat 0 as "unset".
EPOCH = 1704067200
CREATED = "2024-01-01T00:00:00Z"

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

APPLETS: tuple[str, ...] = (
    "cat", "dd", "echo", "env", "false", "grep", "head", "hostname", "id", "kill",
    "ln", "ls", "mkdir", "mount", "printf", "ps", "pwd", "rm", "seq", "sh", "sleep",
    "stat", "tail", "top", "touch", "true", "uname", "wc", "yes",
)  # fmt: skip

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"

MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"

_GO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def host_arch() -> str:
    machine = platform.machine().lower()
    return _GO_ARCH.get(machine, machine)


def canonical_json(value: Any) -> bytes:
    # Compact and in insertion order, like Go's encoding/json, so digests are stable.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# --- layers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Dir:
    path: str
    mode: int = 0o755


@dataclass(frozen=True)
class File:
    path: str
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str


Entry = Dir | File | Symlink


def _tar_info(entry: Entry) -> tarfile.TarInfo:
    name = entry.path.strip("/")
    info = tarfile.TarInfo(name + "/" if isinstance(entry, Dir) else name)
    info.mtime = EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if isinstance(entry, Dir):
        info.type, info.mode = tarfile.DIRTYPE, entry.mode
    elif isinstance(entry, File):
        info.type, info.mode, info.size = tarfile.REGTYPE, entry.mode, len(entry.data)
    else:
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.target
    return info


def build_layer(entries: Iterable[Entry]) -> bytes:
    """An uncompressed layer tar; entries are sorted by path so parents come first."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(entries, key=lambda e: e.path.strip("/")):
            data = io.BytesIO(entry.data) if isinstance(entry, File) else None
            tar.addfile(_tar_info(entry), data)
    return buf.getvalue()


def file_layer(files: Mapping[str, bytes], mode: int = 0o644) -> bytes:
    """A layer holding `files` plus every parent directory they need."""
    entries: dict[str, Entry] = {}
    for path, data in files.items():
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            entries.setdefault(parent, Dir(parent))
        entries[path.strip("/")] = File(path, data, mode)
    return build_layer(entries.values())


def busybox_entries() -> list[Entry]:
    entries: list[Entry] = [
        Dir(name) for name in ("bin", "dev", "etc", "proc", "sys", "usr", "var")
    ]
    entries += [Dir("root", 0o700), Dir("tmp", 0o1777)]
    entries.append(File("bin/busybox", BUSYBOX.read_bytes(), 0o755))
    entries += [Symlink(f"bin/{applet}", "/bin/busybox") for applet in APPLETS]
    entries += [File("etc/passwd", PASSWD), File("etc/group", GROUP)]
    return entries


@cache
def build_busybox_layer() -> bytes:
    return build_layer(busybox_entries())


# --- images -------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    """What a test needs to know about an image it wrote to an archive."""

    config_digest: str
    diff_ids: tuple[str, ...]
    manifest_digest: str
    repo_tags: tuple[str, ...]

    @property
    def id(self) -> str:
        # Docker's image ID is the digest of the config blob.
        return self.config_digest

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)


@dataclass(frozen=True)
class BuiltImage:
    """An image's config and uncompressed layers, before it is packed into an archive."""

    config: bytes
    layers: tuple[bytes, ...]
    config_dict: dict[str, Any] = field(compare=False, repr=False)

    @property
    def config_digest(self) -> str:
        return sha256_digest(self.config)

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(sha256_digest(layer) for layer in self.layers)

    def docker_manifest(self) -> bytes:
        """The schema-2 manifest containerd synthesizes when it imports a docker-save tar."""
        return canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_DOCKER_MANIFEST,
                "config": descriptor(MEDIA_DOCKER_CONFIG, self.config),
                "layers": [descriptor(MEDIA_DOCKER_LAYER, layer) for layer in self.layers],
            }
        )

    def oci_blobs(self) -> tuple[bytes, list[bytes]]:
        """(manifest, gzip layers) for an OCI layout."""
        gz_layers = [gzip.compress(layer, compresslevel=6, mtime=0) for layer in self.layers]
        manifest = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_OCI_MANIFEST,
                "config": descriptor(MEDIA_OCI_CONFIG, self.config),
                "layers": [descriptor(MEDIA_OCI_LAYER_GZIP, blob) for blob in gz_layers],
            }
        )
        return manifest, gz_layers


def descriptor(
    media_type: str,
    blob: bytes,
    *,
    platform: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    desc: dict[str, Any] = {
        "mediaType": media_type,
        "digest": sha256_digest(blob),
        "size": len(blob),
    }
    if platform:
        desc["platform"] = platform
    if annotations:
        desc["annotations"] = annotations
    return desc


def build_image(
    layers: Sequence[bytes],
    config_overrides: Mapping[str, Any] | None = None,
    *,
    image_overrides: Mapping[str, Any] | None = None,
) -> BuiltImage:
    """An image from uncompressed layer tars (bottom first).

    `config_overrides` is merged into the container config (Env, Cmd, Entrypoint,
    WorkingDir, Labels, ...; a None value drops the key); `image_overrides` into the
    top level (e.g. architecture, to test a platform mismatch).
    """
    container_config: dict[str, Any] = {"Env": [DEFAULT_PATH], "Cmd": ["sh"]}
    for key, value in (config_overrides or {}).items():
        if value is None:
            container_config.pop(key, None)
        else:
            container_config[key] = value
    config: dict[str, Any] = {
        "architecture": host_arch(),
        "config": container_config,
        "created": CREATED,
        "history": [
            {"created": CREATED, "created_by": f"moorage test layer {index}"}
            for index in range(len(layers))
        ],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer) for layer in layers]},
    }
    config.update(image_overrides or {})
    return BuiltImage(config=canonical_json(config), layers=tuple(layers), config_dict=config)


def busybox_image(config_overrides: Mapping[str, Any] | None = None) -> BuiltImage:
    return build_image([build_busybox_layer()], config_overrides)


# --- archives -----------------------------------------------------------------------


def _write_tar(path: str | os.PathLike[str], members: Sequence[tuple[str, bytes | None]]) -> None:
    """A tar of (name, data) pairs in the given order; data None means a directory."""
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            entry: Entry = Dir(name) if data is None else File(name, data)
            info = _tar_info(entry)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def split_repo_tag(ref: str) -> tuple[str, str]:
    # A colon after the last slash is a tag; one before it belongs to a registry port.
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def normalize_ref(ref: str) -> str:
    """Docker's familiar name -> the fully qualified one containerd stores."""
    repo, tag = split_repo_tag(ref)
    first, _, rest = repo.partition("/")
    if not rest:
        repo = f"docker.io/library/{repo}"
    elif not ("." in first or ":" in first or first == "localhost"):
        repo = f"docker.io/{repo}"
    return f"{repo}:{tag}"


def write_docker_save(
    path: str | os.PathLike[str],
    repo_tags: Sequence[str] = ("busybox:latest",),
    image: BuiltImage | None = None,
) -> ImageInfo:
    """A `docker save` archive laid out as docker 20.10 writes it."""
    image = image or busybox_image()
    config_hex = image.config_digest.removeprefix("sha256:")
    chain = chain_ids(image.diff_ids)
    members: list[tuple[str, bytes | None]] = []
    layer_paths: list[str] = []
    parent = ""
    for index, layer in enumerate(image.layers):
        top = index == len(image.layers) - 1
        v1: dict[str, Any] = {"created": CREATED, "os": "linux"}
        if top:
            # The top layer's legacy JSON carries the image config, as docker's does.
            v1["architecture"] = image.config_dict["architecture"]
            v1["config"] = image.config_dict["config"]
        # Legacy v1 IDs only need to be unique and stable; derive them from the chain.
        layer_id = hashlib.sha256(
            canonical_json(v1) + f"{chain[index]} {parent}".encode()
        ).hexdigest()
        v1 = {"id": layer_id, **({"parent": parent} if parent else {}), **v1}
        members += [
            (layer_id, None),
            (f"{layer_id}/VERSION", b"1.0"),
            (f"{layer_id}/json", canonical_json(v1)),
            (f"{layer_id}/layer.tar", layer),
        ]
        layer_paths.append(f"{layer_id}/layer.tar")
        parent = layer_id
    members.append((f"{config_hex}.json", image.config))
    manifest = [
        {"Config": f"{config_hex}.json", "RepoTags": list(repo_tags) or None, "Layers": layer_paths}
    ]
    members.append(("manifest.json", canonical_json(manifest)))
    if repo_tags:
        repositories: dict[str, dict[str, str]] = {}
        for ref in repo_tags:
            repo, tag = split_repo_tag(ref)
            repositories.setdefault(repo, {})[tag] = parent
        members.append(("repositories", canonical_json(repositories)))
    _write_tar(path, sorted(members, key=lambda member: member[0]))
    return ImageInfo(
        config_digest=image.config_digest,
        diff_ids=image.diff_ids,
        manifest_digest=sha256_digest(image.docker_manifest()),
        repo_tags=tuple(repo_tags),
    )


def write_oci_layout(
    path: str | os.PathLike[str],
    ref_name: str = "busybox:latest",
    image: BuiltImage | None = None,
    *,
    containerd_name: bool = True,
) -> ImageInfo:
    """An OCI image layout tarball with one manifest named `ref_name`.

    Like docker 25's `docker save`, the index carries the tag as the OCI ref name and
    the full reference as containerd's name annotation, which `ctr images import`
    uses as is. With `containerd_name=False` only the OCI ref name is written.
    """
    image = image or busybox_image()
    manifest, gz_layers = image.oci_blobs()
    full_ref = normalize_ref(ref_name)
    annotations = {ANNOTATION_REF_NAME: split_repo_tag(full_ref)[1]}
    if containerd_name:
        annotations = {ANNOTATION_CONTAINERD_NAME: full_ref, **annotations}
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": [{**descriptor(MEDIA_OCI_MANIFEST, manifest), "annotations": annotations}],
    }
    blobs = {sha256_digest(blob): blob for blob in (image.config, manifest, *gz_layers)}
    members: list[tuple[str, bytes | None]] = [("blobs", None), ("blobs/sha256", None)]
    members += [
        (f"blobs/sha256/{digest.removeprefix('sha256:')}", blob)
        for digest, blob in sorted(blobs.items())
    ]
    members += [
        ("index.json", canonical_json(index)),
        ("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"})),
    ]
    _write_tar(path, members)
    return ImageInfo(
        config_digest=image.config_digest,
        diff_ids=image.diff_ids,
        manifest_digest=sha256_digest(manifest),
        repo_tags=(ref_name,),
    )
