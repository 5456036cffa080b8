"""Packing and unpacking of `google.protobuf.Any` the way containerd names types.

containerd (through its typeurl package) writes bare message names such as
`containerd.events.TaskExit` as type URLs, and JSON OCI documents under
`types.containerd.io/...`, so betterproto's `type.googleapis.com/` convention is
not used on the wire; lookups go by the name after the last slash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any as AnyValue

import betterproto2
import orjson

from .. import jsonbytes
from .gen.google.protobuf import Any
from .gen.message_pool import default_message_pool
from .wirecodec import decode, encode

OCI_SPEC_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
OCI_PROCESS_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/Process"
OCI_RESOURCES_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"


def _by_name() -> dict[str, type[betterproto2.Message]]:
    return {url.rpartition("/")[2]: cls for url, cls in default_message_pool.url_to_type.items()}


def type_name(message: betterproto2.Message) -> str:
    url: str = default_message_pool.type_to_url[type(message)]
    return url.rpartition("/")[2]


def pack(message: betterproto2.Message) -> Any:
    return Any(type_url=type_name(message), value=encode(message))


def pack_json(type_url: str, document: Mapping[str, AnyValue]) -> Any:
    # A spec is packed at every create and start, a process at every exec (issue 13).
    return Any(type_url=type_url, value=jsonbytes.dumps(document))


def unpack_json(value: Any | None) -> dict[str, AnyValue]:
    if value is None or not value.value:
        return {}
    decoded = orjson.loads(value.value)
    return decoded if isinstance(decoded, dict) else {}


def unpack(value: Any | None) -> betterproto2.Message | None:
    """Decode a message by its type URL; None when the type is not one we generated."""
    if value is None or not value.type_url:
        return None
    cls = _types().get(value.type_url.rpartition("/")[2])
    if cls is None:
        return None
    return decode(cls, value.value)


_cache: dict[str, type[betterproto2.Message]] = {}


def _types() -> dict[str, type[betterproto2.Message]]:
    # The pool only grows as generated modules are imported, so rebuild on a miss-size change.
    if len(_cache) != len(default_message_pool.url_to_type):
        _cache.clear()
        _cache.update(_by_name())
    return _cache
