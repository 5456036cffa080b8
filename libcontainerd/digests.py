"""Content digests as the OCI image spec defines them: pure functions, no containerd."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def sha256_digest(data: bytes) -> str:
    """`sha256:<hex>` of `data`: the name of a blob of these bytes in any content store."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The chain ID of each layer: the identity of the layers up to and including it.

    The first is its diff ID; each next one is the digest of "<chain below> <diff ID>".
    """
    chain: list[str] = []
    for diff_id in diff_ids:
        chain.append(diff_id if not chain else sha256_digest(f"{chain[-1]} {diff_id}".encode()))
    return chain
