"""Unpacking image layers into committed snapshots named by their chain IDs.

A layer is applied on top of the snapshot of the layers below it: Prepare an
active snapshot with that parent, Diff.Apply the layer blob into its mounts,
Commit it under the layer's chain ID. Layers whose chain ID is already committed
(shared with another image) are skipped; one Snapshots.List finds them all.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping, Sequence

from ..digests import chain_ids
from ..errors import AlreadyExistsError, LayerDigestMismatchError, from_grpc
from ..types import (
    DEFAULT_SNAPSHOTTER,
    LAYER_SIZE_LABEL,
    LayerSpec,
    SnapshotInfo,
    UnpackedLayer,
)
from .gen.containerd.services.snapshots.v1 import (
    CommitSnapshotRequest,
    Kind,
    ListSnapshotsRequest,
    PrepareSnapshotRequest,
    RemoveSnapshotRequest,
)
from .gen.containerd.types import Descriptor as DescriptorMessage
from .leases import RemoteLeases
from .rpc import Connection, call

# Called with (index, layer) before each layer that is applied.
Before = Callable[[int, LayerSpec], None]

_KINDS = {Kind.VIEW: "view", Kind.ACTIVE: "active", Kind.COMMITTED: "committed"}


class RemoteUnpacker:
    def __init__(self, conn: Connection, snapshotter: str = DEFAULT_SNAPSHOTTER) -> None:
        self._conn = conn
        self._snapshotter = snapshotter

    @property
    def snapshotter(self) -> str:
        return self._snapshotter

    async def snapshots(self, *filters: str) -> list[SnapshotInfo]:
        request = ListSnapshotsRequest(snapshotter=self.snapshotter, filters=list(filters))
        found: list[SnapshotInfo] = []
        try:
            async for resp in self._conn.stubs.snapshots.list(request):
                found.extend(
                    SnapshotInfo(
                        name=info.name,
                        parent=info.parent,
                        kind=_KINDS.get(info.kind, "unknown"),
                        labels=dict(info.labels),
                    )
                    for info in resp.info
                )
        except Exception as exc:
            raise from_grpc(exc) from exc
        return found

    async def committed(self, chain: Sequence[str]) -> set[str]:
        """Which of these chain IDs are committed snapshots (one Snapshots.List)."""
        if not chain:
            return set()
        found = await self.snapshots(*(f'name=="{chain_id}"' for chain_id in chain))
        return {info.name for info in found if info.kind == "committed"}

    async def unpack(
        self,
        layers: Sequence[LayerSpec],
        *,
        present: set[str] | None = None,
        before: Before | None = None,
    ) -> list[UnpackedLayer]:
        """Applies the layers (bottom first) not yet unpacked; returns one entry per layer.

        `present` is the set of committed chain IDs when the caller already knows it. Runs
        under the caller's lease, or under a lease of its own if there is none, so that
        the active snapshots cannot be collected half-way.
        """
        chain = chain_ids([layer.diff_id for layer in layers])
        if self._conn.current_lease is None:
            async with RemoteLeases(self._conn).temporary():
                return await self.unpack(layers, present=present, before=before)
        if present is None:
            present = await self.committed(chain)
        # A committed snapshot implies its parents: start above the highest one there.
        start = max((i + 1 for i, c in enumerate(chain) if c in present), default=0)
        result = [UnpackedLayer(c, None, False) for c in chain[:start]]
        for index in range(start, len(layers)):
            if before is not None:
                before(index, layers[index])
            parent = chain[index - 1] if index else ""
            size = await self.apply_layer(layers[index], chain[index], parent)
            result.append(UnpackedLayer(chain[index], size, True))
        return result

    async def apply_layer(
        self,
        layer: LayerSpec,
        chain_id: str,
        parent: str,
        labels: Mapping[str, str] | None = None,
    ) -> int:
        """Prepare, Diff.Apply and Commit of one layer; returns its uncompressed size."""
        from .gen.containerd.services.diff.v1 import ApplyRequest  # as stubs.diff

        key = f"extract-{secrets.token_hex(6)}-{chain_id}"
        snapshots = self._conn.stubs.snapshots
        prepared = await call(
            snapshots.prepare(
                PrepareSnapshotRequest(snapshotter=self.snapshotter, key=key, parent=parent)
            )
        )
        committed = False
        try:
            blob = layer.blob
            applied = await call(
                self._conn.stubs.diff.apply(
                    ApplyRequest(
                        diff=DescriptorMessage(
                            media_type=blob.media_type, digest=blob.digest, size=blob.size
                        ),
                        mounts=prepared.mounts,
                    )
                )
            )
            assert applied.applied is not None
            if applied.applied.digest != layer.diff_id:
                raise LayerDigestMismatchError(
                    f"layer {blob.digest} unpacks to {applied.applied.digest}, "
                    f"but its image says {layer.diff_id}"
                )
            size = int(applied.applied.size)
            try:
                await call(
                    snapshots.commit(
                        CommitSnapshotRequest(
                            snapshotter=self.snapshotter,
                            name=chain_id,
                            key=key,
                            labels={LAYER_SIZE_LABEL: str(size), **(labels or {})},
                        )
                    )
                )
                committed = True
            except AlreadyExistsError:
                pass  # unpacked meanwhile by another image: theirs is as good as ours
            return size
        finally:
            if not committed:
                with contextlib.suppress(Exception):
                    await snapshots.remove(
                        RemoveSnapshotRequest(snapshotter=self.snapshotter, key=key)
                    )
