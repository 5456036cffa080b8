"""The local collector follows containerd's GC labels from image records and active
snapshots, and waits while a lease is held."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from libcontainerd.gclabels import config_labels, manifest_labels
from libcontainerd.local.content import LocalContentStore
from libcontainerd.local.gc import Collector
from libcontainerd.local.imagestore import LocalImageStore
from libcontainerd.local.leases import LocalLeases
from libcontainerd.local.snapshots import Snapshotter
from libcontainerd.types import Descriptor, ImageRecord


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def _put(store: LocalContentStore, data: bytes, labels: dict[str, str]) -> str:
    async def source(offset: int) -> AsyncIterator[bytes]:
        yield data[offset:]

    await store.write(_digest(data), _digest(data), len(data), source, labels=labels)
    return _digest(data)


async def test_unreferenced_content_and_snapshots_go_referenced_stay(tmp_path: Path) -> None:
    content = LocalContentStore(tmp_path / "content")
    images = LocalImageStore(tmp_path / "images.json")
    leases = LocalLeases()
    snapshots = Snapshotter(tmp_path / "snapshots")
    collector = Collector(content, images, lambda: [snapshots], leases.held)
    images.after_delete = leases.after_delete = collector.collect

    for name, parent in (("l1", ""), ("l2", "l1"), ("other", "")):
        snapshots.prepare(f"k-{name}", parent)
        snapshots.commit(name, f"k-{name}")
    snapshots.prepare("container", "other")  # an active snapshot is a root
    layer = await _put(content, b"layer", {})
    config = await _put(content, b"config", config_labels(snapshots.name, "l2"))
    manifest = await _put(content, b"manifest", manifest_labels(config, [layer]))
    stray = await _put(content, b"stray", {})
    await images.create(ImageRecord("img", Descriptor("m", manifest, 8)))
    await images.create(ImageRecord("gone", Descriptor("m", stray, 5)))

    lease = await leases.create(expire=timedelta(hours=1))
    await images.delete("gone")  # a lease is held: nothing is collected yet
    assert set(content.digests()) == {layer, config, manifest, stray}
    await leases.delete(lease)
    assert set(content.digests()) == {layer, config, manifest}
    assert {i.name for i in snapshots.listing()} == {"l1", "l2", "other", "container"}

    await images.delete("img")
    assert content.digests() == []
    assert {i.name for i in snapshots.listing()} == {"other", "container"}
