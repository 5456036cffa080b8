"""`docker load`: an archive into containerd's content store, unpacked, then named.

The whole archive is read and checked first (archive.py: paths, digests, diff
IDs), so a bad one is refused before anything reaches containerd. Then, under
one lease, each image's blobs are written, its missing layers unpacked, and its
names recorded; the lease goes once the records hold everything.

RPCs for an image of n new layers: Leases.Create, one Snapshots.List, n + 2
Content.Write (layers, config, manifest), n * (Snapshots.Prepare, Diff.Apply,
Snapshots.Commit), one Images.Create per name, Leases.Delete.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.images import progress
from daemon.images.archive import BlobFile, ImageArchiveError, ImportImage, read_image_archive
from daemon.images.compression import file_chunks
from daemon.images.errors import InvalidImageArchive
from daemon.images.image import ImageContent, build_content
from daemon.images.manifest import Index, Manifest, parse_manifest
from daemon.images.reference import parse_docker_ref, short_id
from daemon.images.streaming import run_streaming
from libcontainerd import gclabels
from libcontainerd.digests import chain_ids
from libcontainerd.types import Descriptor, LayerSpec

if TYPE_CHECKING:
    from daemon.images.service import ImageService

Emit = Callable[[dict[str, Any]], None]


async def load_images(
    svc: ImageService, chunks: AsyncIterable[bytes], *, quiet: bool
) -> AsyncIterator[dict[str, Any]]:
    spool = Path(tempfile.mkdtemp(prefix="load-", dir=svc.tmp_dir))
    try:
        try:
            images = await read_image_archive(chunks, spool)
        except ImageArchiveError as exc:
            raise InvalidImageArchive(str(exc)) from None

        async def work(emit: Emit) -> None:
            async with svc.store.leases.temporary():
                for image in images:
                    content = await _store(svc, image, quiet, emit)
                    await _name(svc, image, content, emit)

        async for message in run_streaming(work):
            yield message
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def _desc(blob: BlobFile) -> Descriptor:
    return Descriptor(blob.media_type, blob.digest, blob.size)


def _file(blob: BlobFile) -> Callable[[int], AsyncIterator[bytes]]:
    return lambda offset: file_chunks(blob.path, offset)


async def _store(svc: ImageService, image: ImportImage, quiet: bool, emit: Emit) -> ImageContent:
    store = svc.store
    diff_ids = [layer.diff_id for layer in image.layers]
    chain = chain_ids(diff_ids)
    present = await store.unpacker.committed(chain)
    for index, layer in enumerate(image.layers):
        report = None
        if not quiet and chain[index] not in present:
            report = _loading(emit, short_id(layer.diff_id), layer.size)
        async with svc.blob_lock(layer.digest):
            await store.put_blob(
                _desc(layer),
                _file(layer),
                labels=gclabels.layer_labels(layer.diff_id),
                ref_prefix="load",
                progress=report,
            )
    specs = [LayerSpec(_desc(layer), layer.diff_id) for layer in image.layers]
    unpacked = await store.unpacker.unpack(specs, present=present)
    svc.cache.put_layer_sizes((u.chain_id, u.size) for u in unpacked if u.size is not None)

    top = chain[-1] if chain else ""
    await store.put_blob(
        _desc(image.config_blob),
        _file(image.config_blob),
        labels=gclabels.config_labels(store.snapshotter, top),
        ref_prefix="load",
        relabel=True,
    )
    manifest_bytes = image.manifest.path.read_bytes()
    manifest = parse_manifest(manifest_bytes, image.manifest.media_type)
    assert isinstance(manifest, Manifest)
    await store.put_blob(
        _desc(image.manifest),
        _file(image.manifest),
        labels=gclabels.manifest_labels(
            manifest.config.digest, [layer.digest for layer in image.layers]
        ),
        ref_prefix="load",
        relabel=True,
    )
    index_bytes = None
    # Indexes between the target and the manifest (OCI layouts), children first.
    done = {layer.digest for layer in image.layers}
    done |= {image.config_blob.digest, image.manifest.digest}
    for blob in image.blobs:
        if blob.digest in done:
            continue
        data = blob.path.read_bytes()
        parsed = parse_manifest(data, blob.media_type)
        labels = (
            gclabels.index_labels([m.digest for m in parsed.manifests])
            if isinstance(parsed, Index)
            else {}
        )
        await store.put_blob(
            _desc(blob), _file(blob), labels=labels, ref_prefix="load", relabel=True
        )
        if blob.digest == image.target.digest:
            index_bytes = data
    return build_content(
        _desc(image.target),
        _desc(image.manifest),
        manifest_bytes,
        manifest,
        image.config,
        index_bytes,
    )


def _loading(emit: Emit, layer_id: str, total: int) -> Callable[[int], None]:
    throttle = progress.ProgressThrottle()

    def report(current: int) -> None:
        if throttle.due(current, total):
            emit(progress.layer_progress_message(layer_id, progress.LOADING_LAYER, current, total))

    return report


async def _name(svc: ImageService, image: ImportImage, content: ImageContent, emit: Emit) -> None:
    async with svc.lock:
        if not image.names:
            await svc.add_content(content)
            emit(progress.loaded_image_id(content.id))
        for name in image.names:
            ref = parse_docker_ref(name)
            previous = await svc.name_image(ref, content)
            if previous is not None:
                emit(
                    progress.stream_message(
                        f"The image {ref.familiar()} already exists, renaming the old one "
                        f"with ID {previous} to empty string\n"
                    )
                )
            emit(progress.loaded_image(ref.familiar()))
    svc.event("load", content.id, content.id)
