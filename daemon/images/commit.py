"""Making a new image from a layer tar and a config: what commit, import and (later) the
builder's steps share.

The layer is an uncompressed tar spooled to a file (`spool_layer`). An empty one
(only the end-of-archive blocks, what dockerd calls the empty layer) adds no
layer: the history entry is marked `empty_layer`, as dockerd does. Otherwise
the blob is written and unpacked on the parent's top snapshot through the same
store calls `docker load` uses, all under one temporary lease, then the config,
a schema2 manifest and the image record (a tag, or a dangling record).

RPCs for an image with a new layer: Leases.Create, Content.Write (layer),
Snapshots.Prepare, Diff.Apply, Snapshots.Commit, Content.Write (config),
Content.Write (manifest), Images.Create (one per record), Leases.Delete.
Without a new layer the four layer calls are left out.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.images import mediatypes
from daemon.images.compression import file_chunks
from daemon.images.image import ImageContent, build_content
from daemon.images.manifest import Descriptor as ManifestDescriptor
from daemon.images.manifest import Manifest, build_docker_manifest, parse_manifest
from daemon.images.platforms import PlatformSpec, host_platform
from daemon.images.reference import Reference
from daemon.timefmt import now_rfc3339_nano
from libcontainerd import gclabels
from libcontainerd.digests import chain_ids
from libcontainerd.types import Descriptor, LayerSpec, Opener

if TYPE_CHECKING:
    from daemon.images.service import ImageService

# The digest of a tar holding nothing: two zero blocks.
EMPTY_LAYER = "sha256:" + hashlib.sha256(bytes(1024)).hexdigest()
# What dockerd 20.10 writes as `docker_version` in the configs it makes.
DOCKER_VERSION = "20.10.0"


@dataclass(frozen=True)
class LayerFile:
    """An uncompressed layer tar on disk."""

    path: Path
    diff_id: str
    size: int

    @property
    def empty(self) -> bool:
        return self.diff_id == EMPTY_LAYER


class LayerWriter:
    """Writes a tar stream to a file while taking its digest; the file is the caller's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._hasher = hashlib.sha256()
        self._size = 0
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)

    def write(self, chunk: bytes) -> None:
        self._hasher.update(chunk)
        self._size += len(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> LayerFile:
        os.close(self._fd)
        return LayerFile(self.path, f"sha256:{self._hasher.hexdigest()}", self._size)


def write_layer(chunks: Iterable[bytes], path: Path) -> LayerFile:
    """A tar stream made in this thread, spooled to `path`."""
    writer = LayerWriter(path)
    try:
        for chunk in chunks:
            writer.write(chunk)
    finally:
        layer = writer.close()
    return layer


async def spool_layer(chunks: AsyncIterable[bytes], path: Path) -> LayerFile:
    """A tar stream from the network, spooled to `path`."""
    writer = LayerWriter(path)
    try:
        async for chunk in chunks:
            writer.write(chunk)
    finally:
        layer = writer.close()
    return layer


def image_document(
    *,
    parent: ImageContent | None,
    layer: LayerFile | None,
    config: dict[str, Any],
    history: dict[str, Any],
    fields: dict[str, Any],
    created: str,
    platform: PlatformSpec | None = None,
) -> dict[str, Any]:
    """The image config dockerd writes for a child of `parent` (or a first image), in its
    field order: `fields` holds comment, container, container_config and author. The
    platform is this machine's unless given (an import's `platform`)."""
    platform = platform or host_platform()
    parent_config = parent.config if parent is not None else {}
    diff_ids = list(parent.diff_ids) if parent is not None else []
    if layer is not None:
        diff_ids.append(layer.diff_id)
    entry = {"created": created, **history}
    if layer is None:
        entry["empty_layer"] = True
    document: dict[str, Any] = {}
    if fields.get("comment"):
        document["comment"] = fields["comment"]
    document["created"] = created
    for key in ("container", "container_config"):
        if fields.get(key):
            document[key] = fields[key]
    document["docker_version"] = DOCKER_VERSION
    if fields.get("author"):
        document["author"] = fields["author"]
    document["config"] = config
    document["architecture"] = platform.architecture
    if platform.variant:
        document["variant"] = platform.variant
    document["os"] = platform.os
    if parent is not None:
        document["parent"] = parent.id
    document["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    document["history"] = [*(parent_config.get("history") or []), entry]
    return document


async def create_image(
    svc: ImageService,
    *,
    parent: ImageContent | None,
    layer: LayerFile | None,
    document: dict[str, Any],
    refs: Iterable[Reference] = (),
) -> ImageContent:
    """Stores the image `document` describes (`layer`, if any, on top of `parent`'s) and
    names it (or gives it a dangling record)."""
    store = svc.store
    layers = list(parent.layers) if parent is not None else []
    parent_chain = list(parent.chain_ids) if parent is not None else []
    async with store.leases.temporary():
        if layer is not None:
            blob = Descriptor(mediatypes.DOCKER_LAYER, layer.diff_id, layer.size)
            async with svc.blob_lock(blob.digest):
                await store.put_blob(
                    blob,
                    lambda offset: file_chunks(layer.path, offset),
                    labels=gclabels.layer_labels(layer.diff_id),
                    ref_prefix="commit",
                )
            diff_ids = [*(parent.diff_ids if parent is not None else ()), layer.diff_id]
            specs = [LayerSpec(d, i) for d, i in zip([*layers, blob], diff_ids, strict=True)]
            # The parent's layers are unpacked (a container or the parent image uses them).
            unpacked = await store.unpacker.unpack(specs, present=set(parent_chain))
            svc.cache.put_layer_sizes((u.chain_id, u.size) for u in unpacked if u.size is not None)
            layers.append(blob)
        config_bytes = json.dumps(document, separators=(",", ":")).encode()
        config = Descriptor(
            mediatypes.DOCKER_CONFIG,
            "sha256:" + hashlib.sha256(config_bytes).hexdigest(),
            len(config_bytes),
        )
        top = chain_ids(list(document["rootfs"]["diff_ids"]))
        await store.put_blob(
            config,
            _bytes(config_bytes),
            labels=gclabels.config_labels(store.snapshotter, top[-1] if top else ""),
            ref_prefix="commit",
            relabel=True,
        )
        manifest_bytes = build_docker_manifest(_plain(config), [_plain(item) for item in layers])
        manifest = Descriptor(
            mediatypes.DOCKER_MANIFEST,
            "sha256:" + hashlib.sha256(manifest_bytes).hexdigest(),
            len(manifest_bytes),
        )
        await store.put_blob(
            manifest,
            _bytes(manifest_bytes),
            labels=gclabels.manifest_labels(config.digest, [item.digest for item in layers]),
            ref_prefix="commit",
            relabel=True,
        )
        parsed = parse_manifest(manifest_bytes, manifest.media_type)
        assert isinstance(parsed, Manifest)
        content = build_content(manifest, manifest, manifest_bytes, parsed, config_bytes)
        names = list(refs)
        async with svc.lock:
            for ref in names:
                await svc.name_image(ref, content)
            if not names:
                await svc.add_content(content)
    for ref in names:
        svc.event("tag", content.id, ref.familiar())
    return content


def _plain(desc: Descriptor) -> ManifestDescriptor:
    return ManifestDescriptor(mediaType=desc.media_type, digest=desc.digest, size=desc.size)


def _bytes(data: bytes) -> Opener:
    async def chunks(offset: int) -> AsyncIterator[bytes]:
        yield data[offset:]

    return chunks


def now() -> str:
    return now_rfc3339_nano()


def config_skeleton() -> dict[str, Any]:
    """An empty container config with the fields dockerd always writes, in its order."""
    return {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }


def ordered_config(config: dict[str, Any]) -> dict[str, Any]:
    """`config` over the skeleton; fields dockerd leaves out when empty only when set."""
    out = config_skeleton()
    out.update({key: value for key, value in config.items() if key in out or value})
    return out
