"""Garbage collection of the local image side, by containerd's rules (see gclabels.py).

Roots are the image records' targets and every active snapshot (containers' rootfs,
layers being unpacked). From a blob, its `containerd.io/gc.ref.content.*` labels
reach more blobs and its `containerd.io/gc.ref.snapshot.<snapshotter>` label a
committed snapshot, whose parents come with it. Blobs and committed snapshots
reached by nothing are removed.

It runs after an image record or a lease is deleted, and only while no lease is
held: content written under a lease (a pull or load under way) is not referenced
yet, so a collection then waits for that lease's deletion.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from ..errors import LibcontainerdError
from ..gclabels import GC_REF_CONTENT, GC_REF_SNAPSHOT
from ..types import ImageRecord, SnapshotInfo
from .content import LocalContentStore
from .imagestore import LocalImageStore
from .snapshots import Snapshotter

log = logging.getLogger(__name__)


class Collector:
    def __init__(
        self,
        content: LocalContentStore,
        images: LocalImageStore,
        snapshotters: Callable[[], list[Snapshotter]],
        leases_held: Callable[[], bool],
    ) -> None:
        self._content = content
        self._images = images
        self._snapshotters = snapshotters
        self._leases_held = leases_held

    async def collect(self) -> None:
        if self._leases_held():
            return
        try:
            self._collect(await self._images.list())
        except (OSError, LibcontainerdError) as exc:
            log.warning("image garbage collection stopped: %s", exc)

    def _collect(self, records: list[ImageRecord]) -> None:
        snapshotters = {s.name: s for s in self._snapshotters()}
        listed = {name: {i.name: i for i in s.listing()} for name, s in snapshotters.items()}
        blobs: set[str] = set()
        snapshots: set[tuple[str, str]] = set()
        pending = [record.target.digest for record in records]
        while pending:
            digest = pending.pop()
            if digest in blobs:
                continue
            blobs.add(digest)
            for key, value in self._content.labels(digest).items():
                if key.startswith(GC_REF_CONTENT + "."):
                    pending.append(value)
                elif key.startswith(GC_REF_SNAPSHOT + "."):
                    snapshots.add((key.removeprefix(GC_REF_SNAPSHOT + "."), value))
        for name, infos in listed.items():
            snapshots.update((name, i.name) for i in infos.values() if i.kind == "active")
        # A snapshot keeps its parents.
        kept: set[tuple[str, str]] = set()
        for snapshotter, snapshot in snapshots:
            infos = listed.get(snapshotter, {})
            while snapshot and (snapshotter, snapshot) not in kept:
                kept.add((snapshotter, snapshot))
                info = infos.get(snapshot)
                snapshot = info.parent if info is not None else ""
        for digest in self._content.digests():
            if digest not in blobs:
                with contextlib.suppress(LibcontainerdError, OSError):
                    self._content.remove(digest)
        for name, infos in listed.items():
            doomed = [i for i in infos.values() if (name, i.name) not in kept]
            # Children before their parents: a snapshot's depth orders them.
            depth = {i.name: _depth(i.name, infos) for i in doomed}
            for info in sorted(doomed, key=lambda i: -depth[i.name]):
                with contextlib.suppress(LibcontainerdError, OSError):
                    snapshotters[name].remove(info.name)


def _depth(name: str, infos: dict[str, SnapshotInfo]) -> int:
    depth = 0
    while name in infos and infos[name].parent:
        name = infos[name].parent
        depth += 1
    return depth
