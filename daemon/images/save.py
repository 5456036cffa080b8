"""`docker save`: images out of containerd's content store as a docker-save archive.

Which images and tags a list of names selects follows dockerd: an ID saves the
image without tags, `name:tag` that tag, a bare `name` every tag of that
repository. Layers are written uncompressed, as docker-save archives hold them;
a compressed blob is inflated on the fly (its size, needed up front for the tar
header, is the unpacked layer's, which the snapshot's label keeps).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from daemon.images import mediatypes
from daemon.images.archive import SaveImage, SaveLayer, write_docker_save
from daemon.images.compression import decompress
from daemon.images.errors import ImageStoreError, InvalidImageReference, NoSuchImage
from daemon.images.image import Image
from daemon.images.names import is_tag, reference_of
from daemon.images.reference import (
    InvalidReferenceError,
    Reference,
    parse_image_id,
    parse_normalized_named,
)
from daemon.images.streaming import run_byte_stream
from libcontainerd.types import Descriptor

if TYPE_CHECKING:
    from daemon.images.service import ImageService


async def save_images(svc: ImageService, names: Sequence[str]) -> AsyncIterator[bytes]:
    selected = _select(svc, names)
    images = [
        SaveImage(
            config=image.content.config_bytes,
            layers=[
                await _layer(svc, layer, diff_id, chain_id)
                for layer, diff_id, chain_id in zip(
                    image.content.layers, image.diff_ids, image.chain_ids, strict=True
                )
            ],
            repo_tags=[str(ref) for ref in tags],
        )
        for image, tags in selected
    ]

    async def work(write: Callable[[bytes], Awaitable[None]]) -> None:
        await write_docker_save(write, images)
        for image, _ in selected:
            svc.event("save", image.id, image.id)

    async for chunk in run_byte_stream(work):
        yield chunk


def _select(svc: ImageService, names: Sequence[str]) -> list[tuple[Image, list[Reference]]]:
    chosen: dict[str, tuple[Image, list[Reference]]] = {}

    def add(image_id: str, ref: Reference | None) -> None:
        entry = chosen.setdefault(image_id, (svc.cache.image(image_id), []))
        if ref is not None and is_tag(ref) and ref not in entry[1]:
            entry[1].append(ref)

    for name in names:
        if parse_image_id(name) is not None:
            add(svc.cache.resolve_id(name), None)
            continue
        try:
            ref = parse_normalized_named(name)
        except InvalidReferenceError as exc:
            raise InvalidImageReference(str(exc)) from None
        if ref.familiar_name == "sha256":
            add(svc.cache.resolve_id(name), None)  # a short `sha256:` ID
        elif ref.is_name_only:
            found = False
            for record_name in list(svc.cache.records):
                named = reference_of(record_name)
                image_id = svc.cache.id_of_record(record_name)
                if named is not None and image_id is not None and named.name == ref.name:
                    add(image_id, named)
                    found = True
            if not found:
                add(svc.cache.resolve_id(name), None)
        else:
            found_name = svc.cache.record_for(ref)
            image_id = svc.cache.id_of_record(found_name) if found_name else None
            if image_id is None:
                raise NoSuchImage(ref)
            add(image_id, ref)
    return list(chosen.values())


async def _layer(svc: ImageService, blob: Descriptor, diff_id: str, chain_id: str) -> SaveLayer:
    compression = mediatypes.layer_compression(blob.media_type)
    if compression not in (None, "gzip"):
        raise ImageStoreError(f"cannot save layer {blob.digest}: {compression} is not supported")
    content = svc.store.content

    def open_layer() -> AsyncIterator[bytes]:
        chunks = content.read(blob.digest)
        return chunks if compression is None else decompress(chunks, "gzip")

    size = blob.size if compression is None else svc.cache.layer_sizes.get(chain_id)
    if size is None:
        # Not unpacked by this daemon (no size label): measure it once.
        size = 0
        async for piece in open_layer():
            size += len(piece)
        svc.cache.put_layer_sizes([(chain_id, size)])
    return SaveLayer(diff_id=diff_id, size=size, open=open_layer)
