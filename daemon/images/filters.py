"""The `filters` of image list and image prune, with dockerd 20.10's rules and messages.

Filters arrive as a map of key -> values (the API layer parses the JSON); a key
an endpoint does not know is an error, as are malformed values.
"""

from __future__ import annotations

from collections.abc import Callable

from daemon.filters import FilterMap, match_kv, prune_until
from daemon.images.errors import InvalidImageReference
from daemon.images.image import Image
from daemon.images.names import familiar_match
from daemon.images.reference import InvalidReferenceError, parse_normalized_named

# `until` came with API 1.44, unversioned: dockerd takes it at every version.
LIST_FILTERS = frozenset({"dangling", "label", "before", "since", "reference", "until"})
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})


def validate(filters: FilterMap, allowed: frozenset[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidImageReference(f"Invalid filter '{key}'")


def _values(filters: FilterMap, key: str) -> list[str]:
    return sorted(filters.get(key) or ())


def dangling_only(filters: FilterMap, *, default: bool, spellings: tuple[str, ...]) -> bool:
    """The `dangling` filter: true or false (in the spellings the endpoint accepts)."""
    values = set(filters.get("dangling") or ())
    if not values:
        return default
    trues = {"true", "1"} & set(spellings)
    falses = {"false", "0"} & set(spellings)
    if values <= trues:
        return True
    if values <= falses:
        return False
    raise InvalidImageReference(f"Invalid filter 'dangling=[{' '.join(sorted(values))}]'")


def list_images(
    images: list[Image], filters: FilterMap, resolve: Callable[[str], Image]
) -> list[tuple[Image, list[str], list[str]]]:
    """The images `GET /images/json` shows, each with the tags and digests it shows."""
    validate(filters, LIST_FILTERS)
    only_dangling = (
        dangling_only(filters, default=False, spellings=("true", "false"))
        if "dangling" in filters
        else None
    )
    before = [resolve(v).created_unix for v in _values(filters, "before")]
    since = [resolve(v).created_unix for v in _values(filters, "since")]
    until = prune_until(filters, InvalidImageReference)
    patterns = _values(filters, "reference")
    shown: list[tuple[Image, list[str], list[str]]] = []
    for image in images:
        created = image.created_unix
        if any(created >= limit for limit in before) or any(created <= s for s in since):
            continue
        if until is not None and created >= until:
            continue
        if "label" in filters and not match_kv(filters, "label", image.labels):
            continue
        tags, digests = list(image.repo_tags), list(image.repo_digests)
        if patterns:
            tags = [t for t in tags if _matches(patterns, t)]
            digests = [d for d in digests if _matches(patterns, d)]
        if not tags and not digests:
            # Nameless: shown only as a dangling image, and never for a reference filter.
            if patterns or only_dangling is False or not image.dangling:
                continue
        elif only_dangling and tags:
            continue
        shown.append((image, tags, digests))
    return shown


def _matches(patterns: list[str], familiar: str) -> bool:
    try:
        ref = parse_normalized_named(familiar)
    except InvalidReferenceError:
        return False
    for pattern in patterns:
        try:
            if familiar_match(pattern, ref):
                return True
        except ValueError as exc:
            raise InvalidImageReference(str(exc)) from None
    return False


def prune_matches(image: Image, filters: FilterMap, until: float | None) -> bool:
    if until is not None and image.created_unix >= until:
        return False
    if not match_kv(filters, "label", image.labels):
        return False
    return not ("label!" in filters and match_kv(filters, "label!", image.labels))
