"""The labels through which containerd's garbage collector sees what an image uses.

An image record references its target; the target's labels reference the
content below it (an index its manifests, a manifest its config and layers);
the config's label references the top snapshot of the unpacked layers, whose
parents keep the rest of the chain. Content nothing references is reclaimed.
"""

from __future__ import annotations

from collections.abc import Sequence

GC_REF_CONTENT = "containerd.io/gc.ref.content"
GC_REF_SNAPSHOT = "containerd.io/gc.ref.snapshot"
# On a layer blob: the digest of its uncompressed tar (its diff ID).
UNCOMPRESSED = "containerd.io/uncompressed"
# On a lease: the GC drops the lease once this time (RFC 3339) has passed.
EXPIRE_LABEL = "containerd.io/gc.expire"


def index_labels(manifest_digests: Sequence[str]) -> dict[str, str]:
    return {f"{GC_REF_CONTENT}.m.{i}": digest for i, digest in enumerate(manifest_digests)}


def manifest_labels(config_digest: str, layer_digests: Sequence[str]) -> dict[str, str]:
    labels = {f"{GC_REF_CONTENT}.config": config_digest}
    labels.update({f"{GC_REF_CONTENT}.l.{i}": digest for i, digest in enumerate(layer_digests)})
    return labels


def config_labels(snapshotter: str, top_chain_id: str) -> dict[str, str]:
    return {f"{GC_REF_SNAPSHOT}.{snapshotter}": top_chain_id} if top_chain_id else {}


def layer_labels(diff_id: str) -> dict[str, str]:
    return {UNCOMPRESSED: diff_id}
