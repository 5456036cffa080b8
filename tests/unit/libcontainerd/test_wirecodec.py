"""The Rust wire codec against betterproto2's own, on every generated message type.

Each message is filled with a value in every field (nested messages, lists, maps,
enums, timestamps, negative and 64-bit numbers); both codecs must write the same
bytes and read them back to the same message, so swapping one for the other changes
nothing containerd or the daemon can see. With a long `bytes` value the fields come in
another order (wirecodec writes those last), and each codec must read the other's.
"""

from __future__ import annotations

import datetime
import enum
import importlib
import pkgutil
import typing

import betterproto2
import pytest

from libcontainerd.remote import gen, wirecodec
from libcontainerd.remote.gen.containerd.events import TaskExit
from libcontainerd.remote.gen.containerd.services.containers.v1 import (
    Container,
    CreateContainerRequest,
)
from libcontainerd.remote.gen.containerd.services.content.v1 import WriteContentRequest
from libcontainerd.remote.gen.google.protobuf import Any, Timestamp
from libcontainerd.remote.gen.message_pool import default_message_pool

for _module in pkgutil.walk_packages(gen.__path__, gen.__name__ + "."):
    importlib.import_module(_module.name)

MESSAGES = sorted(default_message_pool.type_to_url, key=lambda c: c.__module__ + c.__qualname__)
WHEN = datetime.datetime(2026, 12, 5, 22, 30, 1, 123456, tzinfo=datetime.UTC)

_SCALARS: dict[str, typing.Any] = {
    betterproto2.TYPE_BOOL: True,
    betterproto2.TYPE_INT32: -7,
    betterproto2.TYPE_INT64: -(2**40),
    betterproto2.TYPE_UINT32: 2**31 + 5,
    betterproto2.TYPE_UINT64: 2**63 + 9,
    betterproto2.TYPE_SINT32: -3,
    betterproto2.TYPE_SINT64: -(2**50),
    betterproto2.TYPE_FIXED32: 2**32 - 1,
    betterproto2.TYPE_FIXED64: 2**64 - 1,
    betterproto2.TYPE_SFIXED32: -(2**31),
    betterproto2.TYPE_SFIXED64: -(2**63),
    betterproto2.TYPE_FLOAT: 1.5,
    betterproto2.TYPE_DOUBLE: -2.25,
    betterproto2.TYPE_STRING: "é/x",
    betterproto2.TYPE_BYTES: b"\x00\xffraw",
}


def _value(cls: type[betterproto2.Message], name: str, depth: int) -> typing.Any:
    meta = wirecodec.class_meta(cls).meta_by_field_name[name]
    field_cls = wirecodec.class_meta(cls).cls_by_field[name]
    if meta.map_meta is not None:
        value_type = meta.map_meta[1].proto_type
        if value_type == betterproto2.TYPE_MESSAGE:
            return {"k": filled(wirecodec.class_meta(cls).cls_by_field[f"{name}.value"], depth + 1)}
        return {"k": _SCALARS[value_type], "k2": _SCALARS[value_type]}
    if meta.proto_type == betterproto2.TYPE_MESSAGE:
        one: typing.Any = WHEN if field_cls is datetime.datetime else filled(field_cls, depth + 1)
    elif meta.proto_type == betterproto2.TYPE_ENUM:
        members = list(typing.cast(type[enum.IntEnum], field_cls))
        one = members[-1]
    else:
        one = _SCALARS[meta.proto_type]
    return [one, one] if meta.repeated else one


def filled(cls: type[betterproto2.Message], depth: int = 0) -> betterproto2.Message:
    """A `cls` with every field set (nested messages down to a depth of 3)."""
    if depth > 3:
        return cls()
    values = {}
    seen_groups = set()
    for name, meta in wirecodec.class_meta(cls).meta_by_field_name.items():
        if meta.group is not None:
            if meta.group in seen_groups:
                continue  # one member of a oneof
            seen_groups.add(meta.group)
        values[name] = _value(cls, name, depth)
    return cls(**values)


def test_the_rust_codec_is_installed() -> None:
    # It is a dependency (requirements.lock): the pure-Python fallback is for machines
    # without the wheel, not for the daemon as shipped.
    assert wirecodec.RUST


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: f"{c.__module__[28:]}.{c.__name__}")
def test_both_codecs_agree(cls: type[betterproto2.Message]) -> None:
    message = filled(cls)  # its bytes are short: Rust writes them in field order
    encoded = wirecodec.encode(message)
    assert encoded == bytes(message)
    assert wirecodec.decode(cls, encoded) == message == cls.parse(encoded)


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: f"{c.__module__[28:]}.{c.__name__}")
def test_an_empty_message_is_empty_bytes(cls: type[betterproto2.Message]) -> None:
    assert wirecodec.encode(cls()) == b""
    # (no codec runs for empty bytes: what betterproto2 itself reads from them)
    assert wirecodec.decode(cls, b"") == cls.parse(b"") == cls()


def _both_read(message: betterproto2.Message, encoded: bytes) -> None:
    cls = type(message)
    assert wirecodec.decode(cls, encoded) == message == cls.parse(encoded)
    assert wirecodec.decode(cls, bytes(message)) == message


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: f"{c.__module__[28:]}.{c.__name__}")
def test_long_bytes_anywhere(cls: type[betterproto2.Message]) -> None:
    message = filled(cls)
    long = bytes(range(256)) * 40
    _replace_bytes(message, long)
    _both_read(message, wirecodec.encode(message))


def _replace_bytes(message: betterproto2.Message, value: bytes, depth: int = 0) -> None:
    for name, meta in wirecodec.class_meta(type(message)).meta_by_field_name.items():
        current = getattr(message, name)
        if meta.proto_type == betterproto2.TYPE_BYTES and not meta.repeated:
            setattr(message, name, value)
        elif isinstance(current, betterproto2.Message) and depth < 4:
            _replace_bytes(current, value, depth + 1)
        elif isinstance(current, list):
            for item in current:
                if isinstance(item, betterproto2.Message):
                    _replace_bytes(item, value, depth + 1)


def test_a_long_spec_is_written_after_the_rest_and_the_message_is_left_as_it_was() -> None:
    spec = b'{"ociVersion": "1.0.2", "pad": "' + b"x" * 20000 + b'"}'
    request = CreateContainerRequest(
        container=Container(id="c1", spec=Any(type_url="types.containerd.io/x", value=spec))
    )
    before = repr(request)
    encoded = wirecodec.encode(request)
    assert repr(request) == before
    assert encoded.endswith(spec)
    _both_read(request, encoded)


def test_an_empty_nested_message_is_still_sent() -> None:
    # An empty Any is present on the wire (tag and zero length), not left out.
    request = CreateContainerRequest(container=Container(id="c1", spec=Any()))
    decoded = wirecodec.decode(CreateContainerRequest, wirecodec.encode(request))
    assert decoded.container is not None and decoded.container.spec == Any()


def test_a_content_chunk_is_written_whole() -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB
    request = WriteContentRequest(ref="r", offset=5, data=chunk)
    encoded = wirecodec.encode(request)
    assert wirecodec.decode(WriteContentRequest, encoded).data == chunk
    _both_read(request, encoded)


def test_unknown_fields_are_kept() -> None:
    # A newer containerd may send fields this client was not generated with.
    extra = b"\xa0\x06\x2a"  # field 100, varint 42
    data = wirecodec.encode(TaskExit(container_id="c", pid=3)) + extra
    decoded = wirecodec.decode(TaskExit, data)
    assert (decoded.container_id, decoded.pid) == ("c", 3)
    assert wirecodec.encode(decoded) == data


def test_a_timestamp_reads_back_as_an_aware_datetime() -> None:
    decoded = wirecodec.decode(TaskExit, wirecodec.encode(TaskExit(exited_at=WHEN)))
    assert decoded.exited_at == WHEN
    assert decoded.exited_at is not None and decoded.exited_at.utcoffset() == datetime.timedelta(0)


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(0, 0), (1733400000, 999_999_999), (-62135596800, 0), (253402300799, 999_999_999)],
)
def test_timestamps_read_the_same_by_both_codecs(seconds: int, nanos: int) -> None:
    # Go's zero time, the epoch (an empty Timestamp on the wire), nanoseconds to truncate.
    stamp = bytes(Timestamp(seconds=seconds, nanos=nanos))
    data = bytes(TaskExit(container_id="c")) + b"\x2a" + bytes([len(stamp)]) + stamp
    assert wirecodec.decode(TaskExit, data) == TaskExit.parse(data)


def test_a_truncated_message_is_refused() -> None:
    # (betterproto2's own codec reads it as a shorter string; the call fails instead.)
    data = wirecodec.encode(TaskExit(container_id="c" * 20))
    with pytest.raises(RuntimeError, match="does not match the protobuf schema"):
        wirecodec.decode(TaskExit, data[:-3])
