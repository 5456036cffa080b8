"""dockerd's ``filters.Args``: the ``filters`` query parameter of list, prune and events
endpoints, and its matching rules.

Two encodings exist: ``{"key": {"value": true}}`` (API 1.22 and later) and the
older ``{"key": ["value"]}``. Both parse to a map of key -> set of values. A key
without values filters nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from daemon.errors import DaemonError, InvalidParameter
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


def prune_labels_match(filters: FilterMap, labels: Mapping[str, str]) -> bool:
    """A prune's ``label`` filters must all hold; with ``label!`` values, not all of those may.

    A ``label!`` key without values excludes nothing here, where image prune's
    `prune_matches` excludes every image."""
    if not match_kv(filters, "label", labels):
        return False
    return not (filters.get("label!") and match_kv(filters, "label!", labels))


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


def _invalid_key(key: str) -> InvalidParameter:
    # dockerd 20.10's wording for a key the endpoint does not know.
    return InvalidParameter(f"Invalid filter '{key}'")


class Filters:
    """A parsed ``filters`` parameter: each key holds a set of values."""

    def __init__(self, fields: Mapping[str, Iterable[str]] | None = None) -> None:
        self._fields: dict[str, set[str]] = {k: set(v) for k, v in (fields or {}).items()}

    @classmethod
    def parse(cls, raw: str | None) -> Filters:
        """Parse the JSON text of a ``filters`` parameter (empty or absent: no filter)."""
        if not raw:
            return cls()
        try:
            data: Any = json.loads(raw)
        except ValueError:
            raise InvalidParameter("invalid filter") from None
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InvalidParameter("invalid filter")
        # As in dockerd, either form is accepted for the whole document, not mixed.
        if all(_is_value_set(v) for v in data.values()):
            return cls({k: (v or {}).keys() for k, v in data.items()})
        if all(_is_value_list(v) for v in data.values()):
            return cls({k: v or () for k, v in data.items()})
        raise InvalidParameter("invalid filter")

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        return cls.parse(query.get("filters"))

    def add(self, key: str, value: str) -> None:
        self._fields.setdefault(key, set()).add(value)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Filters({self.to_json()})"

    def keys(self) -> list[str]:
        return sorted(self._fields)

    def as_dict(self) -> dict[str, list[str]]:
        """Key -> sorted values, for the daemon (which knows nothing of this class)."""
        return {key: sorted(values) for key, values in self._fields.items()}

    def get(self, key: str) -> list[str]:
        """The values given for ``key``, sorted (empty if none)."""
        return sorted(self._fields.get(key, ()))

    def contains(self, key: str) -> bool:
        return key in self._fields

    def validate(self, allowed: Iterable[str]) -> None:
        """Raise InvalidParameter for the first key not in ``allowed``."""
        accepted = set(allowed)
        for key in sorted(self._fields):
            if key not in accepted:
                raise _invalid_key(key)

    def exact_match(self, key: str, source: str) -> bool:
        """True if ``key`` is not filtered on, or one of its values equals ``source``."""
        return match_exact(self._fields, key, source)

    def unique_exact_match(self, key: str, source: str) -> bool:
        """True if ``key`` is not filtered on, or has exactly the one value ``source``."""
        values = self._fields.get(key)
        if not values:
            return True
        return len(values) == 1 and source in values

    def match(self, key: str, source: str) -> bool:
        """Like ``exact_match``, but each value may also be a regular expression."""
        if self.exact_match(key, source):
            return True
        for pattern in self._fields.get(key, ()):
            try:
                if re.search(pattern, source):
                    return True
            except re.error:
                continue
        return False

    def fuzzy_match(self, key: str, source: str) -> bool:
        """Like ``exact_match``, but a value may also be a prefix of ``source``."""
        return match_prefix(self._fields, key, source)

    def match_kv(self, key: str, sources: Mapping[str, str] | None) -> bool:
        """For ``label``-style filters: every ``k`` or ``k=v`` value must hold in ``sources``."""
        return match_kv(self._fields, key, sources)

    def get_bool(self, key: str, default: bool) -> bool:
        """A boolean filter (``dangling=true``); ``default`` if not given."""
        values = self._fields.get(key)
        if values is None:
            return default
        truthy = bool(values & {"1", "true"})
        falsy = bool(values & {"0", "false"})
        if truthy == falsy:
            # None of the accepted spellings, or both answers at once.
            raise InvalidParameter(f"Invalid filter '{key}'")
        return truthy

    def to_json(self) -> str:
        """The modern encoding, as clients send it."""
        return json.dumps(
            {k: dict.fromkeys(sorted(v), True) for k, v in sorted(self._fields.items())},
            separators=(",", ":"),
        )


def _is_value_set(value: object) -> bool:
    return value is None or (
        isinstance(value, dict) and all(isinstance(b, bool) for b in value.values())
    )


def _is_value_list(value: object) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(s, str) for s in value))
