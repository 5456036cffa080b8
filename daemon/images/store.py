"""The daemon's images in containerd: reading them into the cache, writing blobs and records.

Everything here is an RPC (or several); the service decides when to make them.
At start-up the cache costs one Images.List, one Content.Read per distinct
target, manifest and config, and one Snapshots.List for the layer sizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from daemon.images import mediatypes
from daemon.images.cache import ImageCache
from daemon.images.image import ImageContent, build_content
from daemon.images.manifest import (
    MAX_CONFIG_SIZE,
    MAX_MANIFEST_SIZE,
    Index,
    Manifest,
    ManifestError,
    NoMatchingManifestError,
    parse_manifest,
    select_manifest,
)
from daemon.images.manifest import (
    Descriptor as ManifestDescriptor,
)
from daemon.images.names import MANIFEST_LABEL
from daemon.images.platforms import host_platform, match_rank
from libcontainerd.errors import AlreadyExistsError, LibcontainerdError, NotFoundError
from libcontainerd.types import (
    LAYER_SIZE_FILTER,
    LAYER_SIZE_LABEL,
    Descriptor,
    ImageRecord,
    ImageStores,
    Opener,
    Progress,
)

log = logging.getLogger(__name__)

# Reads at start-up run a few at a time: enough to hide latency, few enough to be polite.
_STARTUP_READS = 8


class ContainerdImages:
    """containerd's content, image and snapshot stores of one namespace, for images:
    what the daemon does with them beyond single calls."""

    def __init__(self, stores: ImageStores) -> None:
        self.content = stores.content
        self.images = stores.images
        self.leases = stores.leases
        self.unpacker = stores.unpacker
        self.snapshotter = stores.unpacker.snapshotter

    # -- start-up ----------------------------------------------------------------------

    async def fill(self, cache: ImageCache) -> None:
        records = await self.images.list()
        blobs: dict[str, bytes] = {}
        gate = asyncio.Semaphore(_STARTUP_READS)
        targets: dict[str, ImageRecord] = {}
        for record in records:
            cache.put_record(record)
            targets.setdefault(record.target.digest, record)

        async def read(record: ImageRecord) -> None:
            async with gate:
                try:
                    cache.put_content(await self.read_content(record, blobs))
                except (LibcontainerdError, ManifestError, ValueError) as exc:
                    log.warning("image %s is not usable: %s", record.name, exc)

        await asyncio.gather(*(read(record) for record in targets.values()))
        cache.put_layer_sizes(
            (info.name, int(info.labels[LAYER_SIZE_LABEL]))
            # Only the layers': not the containers' active snapshots (most of them at scale).
            for info in await self.unpacker.snapshots(LAYER_SIZE_FILTER)
            if info.kind == "committed" and info.labels.get(LAYER_SIZE_LABEL, "").isdigit()
        )

    async def read_blob(self, digest: str, limit: int, blobs: dict[str, bytes]) -> bytes:
        data = blobs.get(digest)
        if data is None:
            data = await self.content.read_blob(digest, limit)
            blobs[digest] = data
        return data

    async def read_content(self, record: ImageRecord, blobs: dict[str, bytes]) -> ImageContent:
        """What a record's target resolves to: its manifest (for this platform) and config."""
        target = record.target
        data = await self.read_blob(target.digest, MAX_MANIFEST_SIZE, blobs)
        parsed = parse_manifest(data, target.media_type or None)
        index_bytes: bytes | None = None
        manifest_desc = target
        if isinstance(parsed, Index):
            index_bytes = data
            manifest_desc, data = await self._platform_manifest(parsed, record, blobs)
            parsed = parse_manifest(data, manifest_desc.media_type)
        if not isinstance(parsed, Manifest):
            raise ManifestError(f"{target.digest}: nested indexes are not supported")
        config = await self.read_blob(parsed.config.digest, MAX_CONFIG_SIZE, blobs)
        return build_content(target, manifest_desc, data, parsed, config, index_bytes)

    async def _platform_manifest(
        self, index: Index, record: ImageRecord, blobs: dict[str, bytes]
    ) -> tuple[Descriptor, bytes]:
        chosen = record.labels.get(MANIFEST_LABEL)
        candidates = [m for m in index.manifests if mediatypes.is_manifest(m.media_type)]
        if chosen:
            candidates.sort(key=lambda m: m.digest != chosen)
        else:
            host = host_platform()

            def rank(entry: ManifestDescriptor) -> int:
                if entry.platform is None:
                    return 1000
                found = match_rank(
                    host, entry.platform.os, entry.platform.architecture, entry.platform.variant
                )
                return 999 if found is None else found

            with_rank = sorted(candidates, key=rank)
            try:
                best = select_manifest(Index(schemaVersion=2, manifests=candidates), host)
                with_rank.sort(key=lambda m: m.digest != best.digest)
            except NoMatchingManifestError:
                pass
            candidates = with_rank
        # Only the manifests that were pulled are in the store: the first present one wins.
        for entry in candidates:
            try:
                data = await self.read_blob(entry.digest, MAX_MANIFEST_SIZE, blobs)
            except NotFoundError:
                continue
            return Descriptor(entry.media_type, entry.digest, entry.size), data
        raise ManifestError(f"no manifest of index {record.target.digest} is in the store")

    # -- writing -----------------------------------------------------------------------

    async def put_blob(
        self,
        desc: Descriptor,
        source: Opener,
        *,
        labels: Mapping[str, str] | None = None,
        ref_prefix: str = "moorage",
        progress: Progress | None = None,
        relabel: bool = False,
    ) -> bool:
        """Writes a blob unless it is there; returns whether it was written.

        `relabel` makes sure a blob that was already there carries `labels` too: the GC
        references of manifests and configs must be right whoever wrote them first.
        """
        written = await self.content.write(
            f"{ref_prefix}-{desc.digest}",
            desc.digest,
            desc.size,
            source,
            labels=labels,
            progress=progress,
        )
        if not written and relabel and labels:
            await self.content.update_labels(desc.digest, labels)
        return written

    async def put_record(
        self, name: str, target: Descriptor, labels: Mapping[str, str], *, exists: bool
    ) -> ImageRecord:
        """Creates the record, or points an existing one at `target` (one RPC either way
        when the cache knew whether it exists)."""
        record = ImageRecord(name, target, dict(labels))
        if not exists:
            try:
                return await self.images.create(record)
            except AlreadyExistsError:
                pass
        try:
            return await self.images.update(record, fields=["target", "labels"])
        except NotFoundError:
            return await self.images.create(record)

    async def delete_record(self, name: str, *, sync: bool = False) -> None:
        with contextlib.suppress(NotFoundError):
            await self.images.delete(name, sync=sync)

    async def collect_garbage(self) -> None:
        """Runs containerd's GC now: the deletion of an empty lease, made synchronous."""
        await self.leases.delete(await self.leases.create(), sync=True)
