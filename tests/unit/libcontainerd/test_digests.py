"""libcontainerd.digests: blob digests and layer chain IDs as the OCI image spec defines them."""

from __future__ import annotations

import hashlib

from libcontainerd.digests import chain_ids, sha256_digest

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64


def test_sha256_digest_names_a_blob_by_its_bytes() -> None:
    # The digest of the empty blob is well known (it is every empty layer's).
    assert sha256_digest(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_chain_ids_follow_the_image_spec() -> None:
    # ChainID(L0) = DiffID(L0); ChainID(Ln) = SHA256(ChainID(Ln-1) + " " + DiffID(Ln)).
    second = "sha256:" + hashlib.sha256(f"{A} {B}".encode()).hexdigest()
    third = "sha256:" + hashlib.sha256(f"{second} {C}".encode()).hexdigest()
    assert chain_ids([A, B, C]) == [A, second, third]
    assert chain_ids([A]) == [A]
    assert chain_ids([]) == []
    # A chain ID names the whole stack below: the same layer on another base differs.
    assert chain_ids([B, C])[1] != third
