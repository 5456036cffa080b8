"""Protobuf wire encoding of the generated betterproto2 messages, in Rust where it can be.

betterproto2's own codec is pure Python (a varint is read one byte at a time from a
BytesIO, every field default is made anew under `warnings.catch_warnings()`); it was
a third of the containerd client's CPU per RPC (issue 13). `betterproto2_rust_codec`
does the same job from the same dataclass metadata, but 0.1.3 reads three names that
betterproto2 0.10 spells differently. `_adapt` adds them, read-only and derived from
what betterproto2 has, so that both codecs read one metadata:

- a class's `oneof_group_by_field` (field -> group; betterproto2 keeps group -> fields),
- a field's `map_types` (the key and value proto types of a map field),
- a field's `wraps` (the scalar a google.protobuf wrapper stands for; None for
  Timestamp and Duration, which the Rust codec knows as datetime and timedelta).

The Rust codec copies a `bytes` field into Rust one element at a time (~10 ns a byte:
0.1 ms for a 10 kB OCI spec, 10 ms for a 1 MB content chunk, where Python's codec
takes 1 us). So a message that holds a long `bytes` field (in practice `Any.value`:
specs, and content writes) has that field written by Python after the rest, which Rust
writes: protobuf readers take fields in any order, and containerd's do.

Where the Rust codec cannot be imported, betterproto2's own codec does the work: the
bytes on the wire are valid protobuf either way (tests/unit/libcontainerd checks both
against each other).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import betterproto2

M = TypeVar("M", bound=betterproto2.Message)

# google.protobuf wrapper messages and the scalar each one carries.
_WRAPPED_SCALARS = {
    "BoolValue": "bool",
    "BytesValue": "bytes",
    "DoubleValue": "double",
    "FloatValue": "float",
    "Int32Value": "int32",
    "Int64Value": "int64",
    "UInt32Value": "uint32",
    "UInt64Value": "uint64",
    "StringValue": "string",
}


def _map_types(meta: betterproto2.FieldMetadata) -> tuple[str, str] | None:
    if meta.map_meta is None:
        return None
    return meta.map_meta[0].proto_type, meta.map_meta[1].proto_type


def _wraps(meta: betterproto2.FieldMetadata) -> str | None:
    if meta.unwrap is None:
        return None
    return _WRAPPED_SCALARS.get(meta.unwrap().__name__)


def class_meta(cls: type[betterproto2.Message]) -> betterproto2.ProtoClassMetadata:
    """betterproto2's metadata of a message class (its `_betterproto`, typed)."""
    meta: betterproto2.ProtoClassMetadata = cast(Any, cls)._betterproto
    return meta


def _oneof_group_by_field(meta: betterproto2.ProtoClassMetadata) -> dict[str, str]:
    return {f.name: group for group, fields in meta.oneof_field_by_group.items() for f in fields}


def _adapt() -> None:
    """Give betterproto2's metadata classes the names the Rust codec reads (additions only:
    a name betterproto2 already has is left alone)."""
    additions: list[tuple[type, str, Callable[[Any], Any]]] = [
        (betterproto2.FieldMetadata, "map_types", _map_types),
        (betterproto2.FieldMetadata, "wraps", _wraps),
        (betterproto2.ProtoClassMetadata, "oneof_group_by_field", _oneof_group_by_field),
    ]
    for cls, name, getter in additions:
        if not hasattr(cls, name):
            setattr(cls, name, property(getter))


def _load_rust() -> Any:
    try:
        import betterproto2_rust_codec
    except ImportError:
        return None
    _adapt()
    return betterproto2_rust_codec


_rust = _load_rust()
RUST = _rust is not None


# A `bytes` value longer than this is written by Python (see above): where the two
# codecs cost the same.
LONG_BYTES = 512

_BYTES, _MESSAGE, _MESSAGES = range(3)


@functools.cache
def _long_field_plan(cls: type[betterproto2.Message]) -> tuple[tuple[str, int, int, Any], ...]:
    """(name, number, kind, unset value) of the fields of `cls` that are `bytes`, or
    messages that may hold one; empty for a class that holds none (Rust writes it whole)."""
    plan = []
    meta = class_meta(cls)
    for name, field in meta.meta_by_field_name.items():
        if field.map_meta is not None:
            continue  # left to Rust: no map of containerd's carries long bytes
        if field.proto_type == betterproto2.TYPE_BYTES and not field.repeated:
            kind = _BYTES
        elif (
            field.proto_type == betterproto2.TYPE_MESSAGE
            and field.unwrap is None
            and _long_field_plan(meta.cls_by_field[name])
        ):
            kind = _MESSAGES if field.repeated else _MESSAGE
        else:
            continue
        # None for an optional or oneof field: an empty value there would be written.
        plan.append((name, field.number, kind, meta.default_gen[name]()))
    return tuple(plan)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _holds_long_bytes(message: betterproto2.Message) -> bool:
    for name, _, kind, _ in _long_field_plan(type(message)):
        value = getattr(message, name)
        if value is None:
            continue
        if kind == _BYTES:
            if len(value) > LONG_BYTES:
                return True
        elif kind == _MESSAGE:
            if _holds_long_bytes(value):
                return True
        elif any(_holds_long_bytes(item) for item in value):
            return True
    return False


def encode(message: betterproto2.Message) -> bytes:
    """The message's protobuf bytes (what `bytes(message)` gives; a message holding a
    long `bytes` value has the fields that hold it last)."""
    if _rust is None:
        return bytes(message)
    if not _holds_long_bytes(message):
        encoded: bytes = _rust.serialize(message)
        return encoded
    # Fields written here are taken out of the message while Rust writes the rest and
    # put back after (nothing else runs in between).
    taken: list[tuple[str, Any]] = []
    tail = []
    for name, number, kind, unset in _long_field_plan(type(message)):
        value = getattr(message, name)
        if kind == _BYTES:
            if value is None or len(value) <= LONG_BYTES:
                continue
            tail.append(_length_delimited(number, value))
        elif kind == _MESSAGE:
            if value is None:  # (not `not value`: an empty message is falsy, yet present)
                continue
            tail.append(_length_delimited(number, encode(value)))
        else:
            if not value:
                continue
            tail.extend(_length_delimited(number, encode(item)) for item in value)
        taken.append((name, value))
        setattr(message, name, unset)
    try:
        head: bytes = _rust.serialize(message)
    finally:
        for name, value in taken:
            setattr(message, name, value)
    return b"".join((head, *tail))


def decode(cls: type[M], data: bytes) -> M:
    """A `cls` read from protobuf bytes (what `cls.parse(data)` gives)."""
    if not data:  # every field unset (Empty, most Kill/Delete answers): no parse at all
        return cls()
    if _rust is not None:
        message = cls()
        _rust.deserialize(message, data)
        return message
    return cls.parse(data)
