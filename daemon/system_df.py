"""`GET /system/df`: what images and containers take on disk, as dockerd accounts for it.

Images: each distinct layer counts once in ``LayersSize``; an image's
``SharedSize`` is the part of its layers that other images use too, and
``Containers`` how many containers were created from it. Containers: ``SizeRw``
is the size of the container's upper directory (its own changes, walked in a
worker thread with a bound, see ``containerfs/usage.py``), and ``SizeRootFs``
that plus its image's size.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from . import errors
from .container.live import LiveContainer
from .containerfs.usage import tree_size
from .images.image import Image
from .layers import rootfs_layers


@dataclass(frozen=True)
class ImageUsage:
    containers: int
    shared_size: int


@dataclass(frozen=True)
class DiskUsage:
    layers_size: int
    images: dict[str, ImageUsage]  # by image ID
    size_rw: dict[str, int]  # by container ID
    size_root_fs: dict[str, int]  # by container ID


def _layer_sizes(image: Image) -> dict[str, int]:
    """The image's layers by chain ID (a layer twice in one image is one layer)."""
    return dict(zip(image.chain_ids, image.layer_sizes, strict=False))


def image_usage(
    images: Sequence[Image], containers: Sequence[LiveContainer]
) -> tuple[int, dict[str, ImageUsage]]:
    """``LayersSize`` and each image's ``Containers`` and ``SharedSize``."""
    users = Counter(live.model.image_id for live in containers)
    per_image = {image.id: _layer_sizes(image) for image in images}
    all_layers: dict[str, int] = {}
    references: Counter[str] = Counter()
    for layers in per_image.values():
        all_layers.update(layers)
        references.update(layers.keys())
    usage = {
        image_id: ImageUsage(
            users[image_id], sum(size for chain, size in layers.items() if references[chain] > 1)
        )
        for image_id, layers in per_image.items()
    }
    return sum(all_layers.values()), usage


async def container_sizes(containers: Sequence[LiveContainer]) -> dict[str, int]:
    """Each container's ``SizeRw``; one without readable layers counts 0."""
    uppers: dict[str, str] = {}
    for live in containers:
        try:
            uppers[live.id] = (await rootfs_layers(live)).upper
        except errors.DaemonError:
            continue
    sizes = await asyncio.to_thread(lambda: {cid: tree_size(p) for cid, p in uppers.items()})
    return {live.id: sizes.get(live.id, 0) for live in containers}


async def disk_usage(images: Sequence[Image], containers: Sequence[LiveContainer]) -> DiskUsage:
    layers_size, usage = image_usage(images, containers)
    size_rw = await container_sizes(containers)
    image_sizes = {image.id: image.size for image in images}
    size_root_fs = {
        live.id: size_rw[live.id] + image_sizes.get(live.model.image_id, 0) for live in containers
    }
    return DiskUsage(layers_size, usage, size_rw, size_root_fs)
