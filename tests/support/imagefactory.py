"""Small test images made from deterministic pseudo-random bytes, and archives of them.

Archives are built here with the standard library's tarfile, independently of
the code under test, in the layouts docker and OCI tools write.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

from daemon.images import mediatypes
from daemon.images.registry.client import RegistryClient
from libcontainerd.digests import sha256_digest
from tests.support.images import descriptor


def make_layer(seed: int, files: int = 3, size: int = 3000) -> bytes:
    """An uncompressed layer tar whose bytes depend only on `seed`."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directory = tarfile.TarInfo(f"dir{seed}")
        directory.type, directory.mode, directory.mtime = tarfile.DIRTYPE, 0o755, 1_600_000_000
        tar.addfile(directory)
        for number in range(files):
            data = rng.randbytes(size + number)
            info = tarfile.TarInfo(f"dir{seed}/file{number}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@dataclass
class SampleImage:
    layers: list[bytes]  # uncompressed tars
    config: bytes
    blobs: list[bytes] = field(default_factory=list)  # layer blobs as distributed (gzip)
    manifest: bytes = b""

    @property
    def id(self) -> str:
        return sha256_digest(self.config)

    @property
    def diff_ids(self) -> list[str]:
        return [sha256_digest(layer) for layer in self.layers]

    @property
    def manifest_digest(self) -> str:
        return sha256_digest(self.manifest)


def make_image(
    seeds: Iterable[int],
    *,
    arch: str = "amd64",
    os: str = "linux",
    variant: str | None = None,
    oci: bool = False,
    layer_size: int = 3000,
) -> SampleImage:
    layers = [make_layer(seed, size=layer_size) for seed in seeds]
    config_doc: dict[str, object] = {
        "architecture": arch,
        "os": os,
        "created": "2024-01-02T03:04:05.123456789Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer) for layer in layers]},
        "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
    }
    if variant:
        config_doc["variant"] = variant
    config = json.dumps(config_doc).encode()
    blobs = [gzip_bytes(layer) for layer in layers]
    layer_type = mediatypes.OCI_LAYER_GZIP if oci else mediatypes.DOCKER_LAYER_GZIP
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST if oci else mediatypes.DOCKER_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG if oci else mediatypes.DOCKER_CONFIG,
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": layer_type, "digest": sha256_digest(blob), "size": len(blob)}
                for blob in blobs
            ],
        }
    ).encode()
    return SampleImage(layers=layers, config=config, blobs=blobs, manifest=manifest)


class TarBuilder:
    """Builds an archive member by member, with any name, link or content a test needs."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        # Kept open across calls on purpose: build() closes it.
        self._tar = tarfile.open(  # noqa: SIM115
            fileobj=self._buffer, mode="w", format=tarfile.PAX_FORMAT
        )

    def file(self, name: str, data: bytes) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        self._tar.addfile(info, io.BytesIO(data))
        return self

    def json(self, name: str, document: object) -> TarBuilder:
        return self.file(name, json.dumps(document).encode())

    def directory(self, name: str) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        self._tar.addfile(info)
        return self

    def symlink(self, name: str, target: str) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.SYMTYPE, target
        self._tar.addfile(info)
        return self

    def hardlink(self, name: str, target: str) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.LNKTYPE, target
        self._tar.addfile(info)
        return self

    def blob(self, data: bytes) -> TarBuilder:
        return self.file("blobs/sha256/" + hashlib.sha256(data).hexdigest(), data)

    def build(self) -> bytes:
        self._tar.close()
        return self._buffer.getvalue()


def docker_save(images: list[tuple[SampleImage, list[str]]], *, gzip_layers: bool = False) -> bytes:
    """A docker 20.10-style save: `<id>/layer.tar`, `<hex>.json`, manifest.json, repositories.

    A layer seen before is written as a symlink to the first copy, as docker does.
    """
    builder = TarBuilder()
    manifest: list[dict[str, object]] = []
    repositories: dict[str, dict[str, str]] = {}
    seen: dict[str, str] = {}
    for image, tags in images:
        layer_paths = []
        for position, layer in enumerate(image.layers):
            layer_id = hashlib.sha256(f"{image.id}/{position}".encode()).hexdigest()
            builder.directory(layer_id).file(f"{layer_id}/VERSION", b"1.0")
            builder.json(f"{layer_id}/json", {"id": layer_id})
            diff_id = sha256_digest(layer)
            if diff_id in seen:
                builder.symlink(f"{layer_id}/layer.tar", f"../{seen[diff_id]}")
            else:
                data = gzip_bytes(layer) if gzip_layers else layer
                builder.file(f"{layer_id}/layer.tar", data)
                seen[diff_id] = f"{layer_id}/layer.tar"
            layer_paths.append(f"{layer_id}/layer.tar")
        config_name = image.id.split(":")[1] + ".json"
        builder.file(config_name, image.config)
        manifest.append({"Config": config_name, "RepoTags": tags or None, "Layers": layer_paths})
        for tag in tags:
            repo, _, name = tag.rpartition(":")
            repositories.setdefault(repo, {})[name] = layer_paths[-1].split("/")[0]
    builder.json("manifest.json", manifest)
    if repositories:
        builder.json("repositories", repositories)
    return builder.build()


def oci_index(entries: list[dict[str, object]]) -> bytes:
    return json.dumps(
        {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries}
    ).encode()


def amd64_arm64_index(amd: SampleImage, arm: SampleImage) -> bytes:
    """An OCI index of two single-platform images: linux/arm64/v8 first, then linux/amd64."""
    return oci_index(
        [
            descriptor(
                mediatypes.OCI_MANIFEST,
                arm.manifest,
                platform={"os": "linux", "architecture": "arm64", "variant": "v8"},
            ),
            descriptor(
                mediatypes.OCI_MANIFEST,
                amd.manifest,
                platform={"os": "linux", "architecture": "amd64"},
            ),
        ]
    )


def add_image_blobs(builder: TarBuilder, image: SampleImage) -> TarBuilder:
    for blob in image.blobs:
        builder.blob(blob)
    return builder.blob(image.config).blob(image.manifest)


async def chunked(data: bytes, size: int = 777) -> AsyncIterator[bytes]:
    """The data as an async stream of odd-sized chunks, like a request body."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def opener(data: bytes, size: int = 4096) -> Callable[[], AsyncIterator[bytes]]:
    """What the registry client opens (again, on a retry) to upload `data`."""

    def open_content() -> AsyncIterator[bytes]:
        return chunked(data, size)

    return open_content


async def push_sample(
    client: RegistryClient, repo: str, tag: str, image: SampleImage, *, chunk_size: int = 5000
) -> str:
    """Pushes `image` (blobs, config, manifest) straight to a registry; the manifest digest."""
    for blob in [*image.blobs, image.config]:
        await client.push_blob(
            repo, sha256_digest(blob), len(blob), opener(blob), chunk_size=chunk_size
        )
    media_type = json.loads(image.manifest)["mediaType"]
    return await client.put_manifest(repo, tag, image.manifest, media_type)
