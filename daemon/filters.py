"""The matching rules of dockerd's ``filters.Args``, shared by list, prune and events filters.

Filters reach the daemon as a map of key -> values (the API layer parses the
JSON). A key without values filters nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from daemon.errors import DaemonError
from daemon.timefmt import parse_timestamp

FilterMap = Mapping[str, Collection[str]]


def match_exact(filters: FilterMap, key: str, source: str) -> bool:
    """``ExactMatch``: `key` is not filtered on, or one of its values is `source`."""
    values = filters.get(key)
    return not values or source in values


def match_prefix(filters: FilterMap, key: str, source: str) -> bool:
    """``FuzzyMatch``: `key` is not filtered on, or one of its values starts `source`."""
    values = filters.get(key)
    return not values or any(source.startswith(prefix) for prefix in values)


def match_kv(filters: FilterMap, key: str, labels: Mapping[str, str] | None) -> bool:
    """``MatchKVList``: every `k` or `k=v` of `key` holds in `labels` (true when `key` is not
    given, false when there are no labels)."""
    values = filters.get(key)
    if not values:
        return True
    if not labels:
        return False
    for value in values:
        name, sep, expected = value.partition("=")
        if name not in labels or (sep and labels[name] != expected):
            return False
    return True


def prune_until(filters: FilterMap, error: type[DaemonError]) -> float | None:
    """A prune's `until` filter as Unix seconds (None if not given); more than one, or a
    value that is no time, raises `error` with dockerd's message."""
    values = sorted(filters.get("until") or ())
    if not values:
        return None
    if len(values) > 1:
        raise error("more than one until filter specified")
    try:
        return parse_timestamp(values[0])
    except ValueError as exc:
        raise error(str(exc)) from None
