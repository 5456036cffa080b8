"""How images are named in containerd's image store, and matching names to patterns.

Each image name is one containerd image record, named by its full reference:
`docker.io/library/busybox:latest` for a tag, `docker.io/library/busybox@sha256:…`
for a repo digest (added by pull and push, as dockerd records them). An image
left without either (loaded untagged, or its tag moved to another image) keeps a
record named `moby-dangling@<target digest>`, the name dockerd's containerd image
store gives such images, so containerd's GC does not reclaim it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from daemon.images.errors import InvalidImageReference
from daemon.images.reference import (
    InvalidReferenceError,
    Reference,
    parse_normalized_named,
    parse_tag,
)

DANGLING_PREFIX = "moby-dangling@"
# Record labels: the platform manifest chosen below an index target, and when a
# `docker tag` made the record (an image's Metadata.LastTagTime).
MANIFEST_LABEL = "moorage.io/manifest"
TAGGED_AT_LABEL = "moorage.io/tagged-at"


def dangling_name(target_digest: str) -> str:
    return DANGLING_PREFIX + target_digest


def is_dangling_name(name: str) -> bool:
    return name.startswith(DANGLING_PREFIX)


def named_with_tag(name: str, tag: str) -> Reference:
    """`name` as push and tag take it, the separate `tag` (if given) replacing its tag and
    digest; InvalidImageReference if either is malformed."""
    try:
        ref = parse_normalized_named(name)
        return Reference(ref.domain, ref.path, tag=parse_tag(tag)) if tag else ref
    except InvalidReferenceError as exc:
        raise InvalidImageReference(str(exc)) from None


def reference_of(name: str) -> Reference | None:
    """The tag or digest reference a record name stands for; None for other names."""
    if is_dangling_name(name):
        return None
    try:
        ref = parse_normalized_named(name)
    except InvalidReferenceError:
        return None
    return None if ref.is_name_only else ref


def record_name(ref: Reference) -> str:
    """The record name of a tag or a digest reference (tag wins if it has both)."""
    if ref.tag is not None:
        return str(Reference(ref.domain, ref.path, tag=ref.tag))
    return str(ref)


def is_tag(ref: Reference) -> bool:
    return ref.tag is not None


def familiar_match(pattern: str, ref: Reference) -> bool:
    """dockerd's `reference` filter: a path glob on `busybox:latest`, then on `busybox`.

    Raises ValueError for a malformed pattern.
    """
    regex = _glob(pattern)
    return bool(regex.fullmatch(ref.familiar()) or regex.fullmatch(ref.familiar_name))


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """Go's path.Match syntax: `*` and `?` stop at `/`, `[...]` classes (`^` negates)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\":
            i += 1
            if i >= len(pattern):
                raise ValueError("syntax error in pattern")
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("^", "]") else i + 1)
            if end < 0:
                raise ValueError("syntax error in pattern")
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            if not body:
                raise ValueError("syntax error in pattern")
            escaped = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^' if negate else ''}{escaped}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))
