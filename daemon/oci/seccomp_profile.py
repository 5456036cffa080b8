"""A Docker-format seccomp profile (`seccomp=<json>`) decoded as dockerd 20.10 decodes it.

dockerd reads the text at each start, with Go's `json.Unmarshal` into its profile
types, so a bad profile is a 500 from `start` (the create succeeded) whose text is Go's:
`Decoding seccomp profile failed: invalid character ...` for a syntax error, `json:
cannot unmarshal <kind> into Go struct field <Struct>.<path> of type <type>` for a
value of the wrong kind (the first one; decoding goes on past it), a kernel version's
own message for a bad `minKernel`. As with Go: keys match case-insensitively when no
key matches exactly, unknown keys and nulls change nothing. The result holds only the
fields dockerd's types have, under their canonical names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wire.json_syntax import go_unmarshal_syntax_error

from .errors import StartError

_DECODING = "Decoding seccomp profile failed: "


class _Number(str):
    """A JSON number as its literal (Go's messages quote it, and uints parse it)."""


class _Stop(Exception):
    """An error that ends decoding at once (a custom unmarshaler's)."""


@dataclass(frozen=True)
class _Kind:
    """A Go type: its JSON shape ("string", "uint", "slice", "struct", "kernel"), its
    name in messages, and for slices the element, for structs the fields."""

    shape: str
    go_name: str
    element: _Kind | None = None
    fields: tuple[tuple[str, _Kind], ...] = ()
    bits: int = 64


def _string(go_name: str = "string") -> _Kind:
    return _Kind("string", go_name)


def _slice(element: _Kind, go_name: str) -> _Kind:
    return _Kind("slice", go_name, element=element)


_ARCH = _string("specs.Arch")
_ACTION = _string("specs.LinuxSeccompAction")
_STRINGS = _slice(_string(), "[]string")
_FILTER = _Kind(
    "struct",
    "seccomp.Filter",
    fields=(("caps", _STRINGS), ("arches", _STRINGS), ("minKernel", _Kind("kernel", ""))),
)
_ARG = _Kind(
    "struct",
    "specs.LinuxSeccompArg",
    fields=(
        ("index", _Kind("uint", "uint")),
        ("value", _Kind("uint", "uint64")),
        ("valueTwo", _Kind("uint", "uint64")),
        ("op", _string("specs.LinuxSeccompOperator")),
    ),
)
_SYSCALL = _Kind(
    "struct",
    "seccomp.Syscall",
    fields=(
        ("name", _string()),
        ("names", _STRINGS),
        ("action", _ACTION),
        ("errnoRet", _Kind("uint", "uint")),
        ("args", _slice(_ARG, "[]*specs.LinuxSeccompArg")),
        ("comment", _string()),
        ("includes", _FILTER),
        ("excludes", _FILTER),
    ),
)
_ARCHITECTURE = _Kind(
    "struct",
    "seccomp.Architecture",
    fields=(("architecture", _ARCH), ("subArchitectures", _slice(_ARCH, "[]specs.Arch"))),
)
_SECCOMP = _Kind(
    "struct",
    "seccomp.Seccomp",
    fields=(
        ("defaultAction", _ACTION),
        ("architectures", _slice(_ARCH, "[]specs.Arch")),
        ("archMap", _slice(_ARCHITECTURE, "[]seccomp.Architecture")),
        ("syscalls", _slice(_SYSCALL, "[]*seccomp.Syscall")),
    ),
)


def _json_kind(value: Any) -> str:
    if isinstance(value, _Number):
        return "number"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _raw(value: Any) -> str:
    """The value's JSON text, as Go hands it to a custom unmarshaler."""
    if isinstance(value, _Number):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _parse_uint8(text: str) -> int:
    if not text or not text.isascii() or not text.isdigit():
        raise _Stop(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    if int(text) > 255:
        raise _Stop(f'strconv.ParseUint: parsing "{text}": value out of range')
    return int(text)


def _kernel(value: Any) -> str | None:
    """`minKernel`: "<kernel>.<major>", each 0-255, not 0.0 (dockerd's own messages)."""
    raw = _raw(value)
    expected = f'invalid kernel version: {raw}, expected "<kernel>.<major>"'
    if not isinstance(value, str) or isinstance(value, _Number):
        kind = _json_kind(value)
        raise _Stop(f"{expected}: json: cannot unmarshal {kind} into Go value of type string")
    if value == "":
        return None
    parts = value.split(".", 2)
    if len(parts) != 2:
        raise _Stop(expected)
    try:
        numbers = [_parse_uint8(part) for part in parts]
    except _Stop as exc:
        raise _Stop(f"{expected}: {exc}") from None
    if numbers == [0, 0]:
        raise _Stop(f"{expected}: version cannot be 0.0")
    return value


class _Decoder:
    def __init__(self) -> None:
        self.first_error = ""

    def _mismatch(self, shown: str, kind: _Kind, struct: str, path: list[str]) -> None:
        if self.first_error:
            return
        where = f"Go struct field {struct}.{'.'.join(path)}" if struct or path else "Go value"
        self.first_error = f"json: cannot unmarshal {shown} into {where} of type {kind.go_name}"

    def value(self, value: Any, kind: _Kind, struct: str, path: list[str]) -> Any:
        """The decoded value; None for null or a mismatch (Go leaves the zero value)."""
        if value is None:
            return None
        if kind.shape == "kernel":
            return _kernel(value)
        decode: Callable[[Any, _Kind, str, list[str]], Any] = getattr(self, "_" + kind.shape)
        return decode(value, kind, struct, path)

    def _string(self, value: Any, kind: _Kind, struct: str, path: list[str]) -> Any:
        if isinstance(value, str) and not isinstance(value, _Number):
            return value
        self._mismatch(_json_kind(value), kind, struct, path)
        return None

    def _uint(self, value: Any, kind: _Kind, struct: str, path: list[str]) -> Any:
        if not isinstance(value, _Number):
            self._mismatch(_json_kind(value), kind, struct, path)
            return None
        if value.isascii() and value.isdigit() and int(value) < 2**kind.bits:
            return int(value)
        self._mismatch(f"number {value}", kind, struct, path)
        return None

    def _slice(self, value: Any, kind: _Kind, struct: str, path: list[str]) -> Any:
        if not isinstance(value, list):
            self._mismatch(_json_kind(value), kind, struct, path)
            return None
        assert kind.element is not None
        return [self.value(item, kind.element, struct, path) for item in value]

    def _struct(self, value: Any, kind: _Kind, struct: str, path: list[str]) -> Any:
        if not isinstance(value, dict):
            self._mismatch(_json_kind(value), kind, struct, path)
            return None
        names = dict(kind.fields)
        folded = {name.casefold(): name for name in names}
        out: dict[str, Any] = {}
        own = kind.go_name.rpartition(".")[2]
        for key, item in value.items():
            name = key if key in names else folded.get(key.casefold())
            if name is None:
                continue  # a key the type does not have: ignored, as by Go
            decoded = self.value(item, names[name], own, [*path, name])
            if decoded is not None or item is None:
                out[name] = decoded
        return out


def decode_profile(text: str) -> dict[str, Any]:
    """The profile as dockerd's types hold it; StartError (500) with dockerd's text."""
    if problem := go_unmarshal_syntax_error(text.encode()):
        raise StartError(_DECODING + problem)
    document = json.loads(text, parse_int=_Number, parse_float=_Number)
    decoder = _Decoder()
    try:
        profile = decoder.value(document, _SECCOMP, "", [])
    except _Stop as exc:
        raise StartError(_DECODING + str(exc)) from None
    if decoder.first_error:
        raise StartError(_DECODING + decoder.first_error)
    return profile or {}
