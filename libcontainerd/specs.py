"""What a client keeps of a container's OCI spec once containerd holds it.

The whole spec stayed in every container's record: ~8 kB of a created container's memory
(its nested lists and dicts), ~50 kB of a restored one's (decoded from containerd, nothing
shared), for two readers: an exec starts from the spec's `process`, and an exit with 137
looks for an OOM in its `linux.cgroupsPath` (issue 13: RSS per container). The rest is
containerd's. A start that rebuilds the spec needs only to know whether it changed: the
digest of the encoded spec says so without keeping it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from . import jsonbytes


def kept(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of `spec` a record keeps: `process` and `linux.cgroupsPath` (shared with
    `spec`, not copied: neither is changed in place)."""
    out: dict[str, Any] = {}
    if "process" in spec:
        out["process"] = spec["process"]
    linux = spec.get("linux")
    if isinstance(linux, Mapping) and "cgroupsPath" in linux:
        out["linux"] = {"cgroupsPath": linux["cgroupsPath"]}
    return out


def digest(encoded: bytes) -> bytes:
    """The digest of a spec encoded as containerd holds it (`jsonbytes.dumps`). SHA-256:
    with the CPU's SHA instructions it took half of blake2b's time here (~12 us for a
    9 kB spec), and create pays it once."""
    return hashlib.sha256(encoded).digest()


def digest_of(spec: Mapping[str, Any]) -> bytes:
    return digest(jsonbytes.dumps(spec))
