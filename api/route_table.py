"""Finding the route of a path in aiohttp's order, by the shape of the path.

aiohttp's router walks the path's prefixes, longest first, in an index of its resources
keyed by the path before their first variable part, and tries each resource of a bucket
in registration order: a coroutine and a regex apiece. With mooraged's routes, some 30
resources share ``/containers``, and ``/containers/{name}/stats`` took 20-30 us to find
(issue 13). ``RouteTable`` finds the same route without the walk, the coroutines or the
regexes: the resources are filed by the number of segments of their paths, then by which
segments are variable, then by their literal segments (``/containers/*/stats``), so a
path's candidates are a few dictionary look-ups away. The candidates are tried in the
walk's order (longer index key first, then registration order); a variable segment takes
what aiohttp's default pattern takes (one non-empty segment without braces), and the
route is the resource's route for the method (or its ``*`` route), as a resource's own
``resolve`` decides. The first candidate that takes the path and the method is the one
aiohttp would reach first.

Resources with a variable of another pattern (``{name:.*}``), prefixes and
sub-applications are left to aiohttp: a path whose walk would reach their index key
before the route found here gets ``None``, and so does a path that no route takes (or not
with this method); the caller then asks aiohttp's walk, which also gathers the allowed
methods of a 405.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import (
    AbstractResource,
    AbstractRoute,
    DynamicResource,
    PlainResource,
)

# A variable segment with aiohttp's default pattern: one whole segment, no braces.
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def index_key(resource: AbstractResource) -> str:
    """The key aiohttp's router indexes `resource` under (its ``_get_resource_index_key``):
    the path up to the segment of the first variable part."""
    key = resource.canonical
    if "{" in key:
        key = key.partition("{")[0].rpartition("/")[0]
    return key.rstrip("/") or "/"


def _segments(resource: AbstractResource) -> list[str | None] | None:
    """`resource`'s path by segments, None for a variable one; None if it has a variable
    with a pattern of its own, or in part of a segment (then only its regex can tell)."""
    if isinstance(resource, DynamicResource) and _pattern(resource) != _pattern(
        DynamicResource(resource.canonical)
    ):
        return None  # its canonical path hides a pattern of its own: "{name:.*}" -> "{name}"
    segments: list[str | None] = []
    for segment in resource.canonical.split("/"):
        if "{" not in segment and "}" not in segment:
            segments.append(segment)
        elif _VARIABLE.fullmatch(segment):
            segments.append(None)
        else:
            return None
    return segments


def _pattern(resource: DynamicResource) -> str:
    pattern: re.Pattern[str] = resource.get_info()["pattern"]
    return pattern.pattern


def _unquote(value: str) -> str:
    # What aiohttp's resources do to a variable of the path they are given (path_safe
    # keeps "%2F" and "%25" encoded so that a variable may hold a slash).
    if "%" not in value:
        return value
    return value.replace("%2F", "/").replace("%25", "%")


class _Entry:
    """One resource as the table tries it."""

    __slots__ = ("any_route", "key_length", "order", "routes", "variables")

    def __init__(self, order: int, key: str, resource: AbstractResource) -> None:
        # The walk's order: the longer index key first, then registration order.
        self.order = (-len(key), order)
        self.key_length = len(key)
        names = _VARIABLE.findall(resource.canonical)
        positions = [i for i, s in enumerate(resource.canonical.split("/")) if "{" in s]
        self.variables = tuple(zip(positions, names, strict=True))
        self.routes: dict[str, AbstractRoute] = {}
        self.any_route: AbstractRoute | None = None
        for route in resource:
            if route.method == "*":  # aiohttp's METH_ANY
                self.any_route = route
            self.routes[route.method] = route

    def match(self, method: str, segments: list[str]) -> web.UrlMappingMatchInfo | None:
        route = self.routes.get(method, self.any_route)
        if route is None:
            return None
        match_dict: dict[str, str] = {}
        for position, name in self.variables:
            value = segments[position]
            if not value or "{" in value or "}" in value:
                return None
            match_dict[name] = _unquote(value)
        return web.UrlMappingMatchInfo(match_dict, route)


# For one number of segments: per set of variable positions, the getter of the literal
# segments and the entries by those literals (in the walk's order).
_Shapes = list[tuple[Callable[[Any], Any], dict[Any, list[_Entry]]]]


class RouteTable:
    """The plain and dynamic resources of a router (others are left to aiohttp)."""

    def __init__(self, resources: Iterable[AbstractResource]) -> None:
        placed: list[tuple[str, AbstractResource, list[str | None]]] = []
        # Index keys holding a resource this table cannot place (a variable with a
        # pattern of its own, a prefix, a sub-application): the walk stops there.
        self._unknown: set[str] = set()
        for resource in resources:
            key = index_key(resource)
            shape = None
            if isinstance(resource, (PlainResource, DynamicResource)):
                shape = _segments(resource)
            if shape is None:
                self._unknown.add(key)
            else:
                placed.append((key, resource, shape))
        # The first segment of each unknown key: only paths starting so can reach one.
        self._unknown_heads = {key.split("/")[1] for key in self._unknown}
        by_count: dict[int, dict[tuple[int, ...], dict[Any, list[_Entry]]]] = {}
        for order, (key, resource, shape) in enumerate(placed):
            if key in self._unknown:
                continue  # the walk stops at the key before trying its resources
            literals = tuple(i for i, segment in enumerate(shape) if segment is not None)
            words = itemgetter(*literals)(shape)
            by_literals = by_count.setdefault(len(shape), {}).setdefault(literals, {})
            by_literals.setdefault(words, []).append(_Entry(order, key, resource))
        self._shapes: dict[int, _Shapes] = {
            count: [(itemgetter(*literals), entries) for literals, entries in found.items()]
            for count, found in by_count.items()
        }

    def find(self, method: str, path: str) -> web.UrlMappingMatchInfo | None:
        """The match aiohttp's walk would give `method` on `path` (the request's decoded
        ``path_safe``), or None: no route takes it, or its path is one this table cannot
        judge; aiohttp's walk then decides."""
        segments = path.split("/")
        shapes = self._shapes.get(len(segments))
        if shapes is None:
            return None
        candidates: list[_Entry] = []
        for literals, entries in shapes:
            found = entries.get(literals(segments))
            if found is not None:
                candidates += found
        if len(candidates) > 1:
            candidates.sort(key=_walk_order)
        for entry in candidates:
            match_info = entry.match(method, segments)
            if match_info is not None:
                if segments[1] in self._unknown_heads and self._shadowed(path, entry):
                    return None
                return match_info
        return None

    def _shadowed(self, path: str, entry: _Entry) -> bool:
        """Whether aiohttp's walk meets a key this table left to it before `entry`'s."""
        part = path
        while len(part) >= entry.key_length:
            if part in self._unknown:
                return True
            if part == "/":
                break
            part = part.rpartition("/")[0] or "/"
        return False

    async def resolve(self, request: Any) -> web.UrlMappingMatchInfo | None:
        """``find`` for what resources read of a request: its ``method`` and
        ``rel_url.path_safe``."""
        return self.find(request.method, request.rel_url.path_safe)


def _walk_order(entry: _Entry) -> tuple[int, int]:
    return entry.order
