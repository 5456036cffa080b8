"""Finding the route of a path in aiohttp's order, by the shape of the path.

aiohttp's router walks the path's prefixes, longest first, in an index of its resources
keyed by the path before their first variable part, and tries each resource of a bucket
in registration order: a coroutine and a regex apiece. With mooraged's routes, some 30
resources share ``/containers``, and ``/containers/{name}/stats`` took 20-30 us to find
(issue 13). ``RouteTable`` keeps the same buckets and walk, but finds a bucket's
candidates with dictionary look-ups: by the number of segments, and the literal segments
around the variable ones (``/containers/*/stats``). Only those are resolved, in
registration order, so the first that takes the path and the method is the one aiohttp
would reach first. Buckets with a variable of another pattern (``{name:.*}``) are left to
aiohttp, and so is a path that no route takes: ``None`` says so, and the caller asks
aiohttp's walk, which also gathers the allowed methods of a 405.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource, DynamicResource, PlainResource

# A variable segment with aiohttp's default pattern: one whole segment, no braces.
_VARIABLE = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def index_key(resource: AbstractResource) -> str:
    """The key aiohttp's router indexes `resource` under (its ``_get_resource_index_key``):
    the path up to the segment of the first variable part."""
    key = resource.canonical
    if "{" in key:
        key = key.partition("{")[0].rpartition("/")[0]
    return key.rstrip("/") or "/"


def _segments(resource: AbstractResource) -> tuple[str | None, ...] | None:
    """`resource`'s path by segments, None for a variable one; None if it has a variable
    with a pattern of its own, or in part of a segment (then only its regex can tell)."""
    segments: list[str | None] = []
    for segment in resource.canonical.split("/"):
        if "{" not in segment and "}" not in segment:
            segments.append(segment)
        elif _VARIABLE.fullmatch(segment):
            segments.append(None)
        else:
            return None
    return tuple(segments)


class _Bucket:
    """The resources of one index key, found by the shape of their paths: for each number
    of segments, each set of variable positions, the resources (by number, in order) whose
    other segments are these words."""

    def __init__(self, resources: list[AbstractResource], shapes: list[tuple[str | None, ...]]):
        self.resources = resources
        self._shapes: dict[int, dict[tuple[int, ...], dict[tuple[str | None, ...], list[int]]]]
        self._shapes = {}
        for number, shape in enumerate(shapes):
            variables = tuple(i for i, segment in enumerate(shape) if segment is None)
            by_words = self._shapes.setdefault(len(shape), {}).setdefault(variables, {})
            by_words.setdefault(shape, []).append(number)

    def candidates(self, path: str) -> list[int]:
        """The resources whose path `path` may be, in registration order; each one's own
        ``resolve`` has the last word (its regex, its methods)."""
        segments = path.split("/")
        found: list[int] = []
        for variables, by_words in self._shapes.get(len(segments), {}).items():
            words: list[str | None] = list(segments)
            for i in variables:
                words[i] = None
            found += by_words.get(tuple(words), ())
        if len(found) > 1:
            found.sort()
        return found


class RouteTable:
    """The plain and dynamic resources of a router (others are left to aiohttp)."""

    def __init__(self, resources: Iterable[AbstractResource]) -> None:
        by_key: dict[str, list[AbstractResource]] = {}
        # Keys holding a resource this table cannot place (a variable with a pattern of
        # its own, a prefix, a sub-application): paths under them go to aiohttp's walk.
        self._unknown: set[str] = set()
        for resource in resources:
            key = index_key(resource)
            if isinstance(resource, (PlainResource, DynamicResource)):
                by_key.setdefault(key, []).append(resource)
            else:
                self._unknown.add(key)
        self._buckets: dict[str, _Bucket] = {}
        for key, found in by_key.items():
            shapes = [_segments(resource) for resource in found]
            if all(shape is not None for shape in shapes):
                self._buckets[key] = _Bucket(found, [s for s in shapes if s is not None])
            else:
                self._unknown.add(key)

    async def resolve(self, request: Any) -> web.UrlMappingMatchInfo | None:
        """The match aiohttp's walk would give `request` (what resources read of one: its
        ``method`` and ``rel_url.path_safe``), or None: no route takes it, or its path is
        one this table cannot judge; aiohttp's walk then decides."""
        path: str = request.rel_url.path_safe
        part = path
        while part:
            if part in self._unknown:
                return None
            bucket = self._buckets.get(part)
            if bucket is not None:
                for number in bucket.candidates(path):
                    match_info, _ = await bucket.resources[number].resolve(request)
                    if match_info is not None:
                        return match_info
                    # Not its method (or its regex): aiohttp tries the next one too.
            if part == "/":
                break
            part = part.rpartition("/")[0] or "/"
        return None
