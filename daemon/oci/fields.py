"""Typed reads of Engine API JSON (plain dicts), where null and absent both mean zero.

For JSON no request model parsed: an image's config, and a container's stored
Config and HostConfig. A wrong type is a SpecError, not a TypeError escaping as a
500. A parsed request (``wire``) is read by attribute instead (see `validate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import SpecError

Json = Mapping[str, Any]


def get_int(obj: Json, key: str, default: int = 0) -> int:
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"invalid value for {key}: {value!r}")
    return value


def get_opt_int(obj: Json, key: str) -> int | None:
    return None if obj.get(key) is None else get_int(obj, key)


def get_str(obj: Json, key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SpecError(f"invalid value for {key}: {value!r}")
    return value


def get_bool(obj: Json, key: str) -> bool:
    return bool(obj.get(key))


def get_strs(obj: Json, key: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if isinstance(value, str):  # Cmd and Entrypoint may be given as one string
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"invalid value for {key}: {value!r}")
    return list(value)


def get_map(obj: Json, key: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"invalid value for {key}: {value!r}")
    return dict(value)


def get_list(obj: Json, key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(f"invalid value for {key}: {value!r}")
    return list(value)
