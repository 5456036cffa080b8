"""What every Engine API model shares: Go's JSON rules.

The daemon on the other side of the docker CLI is written in Go, and clients
depend on how its encoding/json reads and writes:

* Reading: keys match field names case-insensitively, unknown keys are
  ignored, and ``null`` leaves a non-pointer field at its zero value.
* Writing: nil slices and maps are ``null``, empty ones ``[]``/``{}``; fields
  tagged ``omitempty`` are left out when empty. Mark those with ``OmitEmpty``
  in the annotation. A field typed ``X | None`` is a Go pointer: with
  ``OmitEmpty`` it is left out only when None, a zero value is still written.

Field names are the API's own (PascalCase mostly). Where the name cannot be a
Python attribute (``Config`` clashes with pydantic, ``from`` is a keyword) the
attribute is ``config``/``from_`` with ``serialization_alias`` set to the API
name; input accepts either.
"""

import copy
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic.fields import FieldInfo


class _OmitEmpty:
    """Annotation marker: Go's ``json:",omitempty"``."""

    def __repr__(self) -> str:
        return "OmitEmpty"


OmitEmpty = _OmitEmpty()


def copy_json(value: Any) -> Any:
    """A deep copy of decoded JSON: its dicts and lists copied, the rest (str, numbers,
    None, tuples: immutable) shared. copy.deepcopy, with its memo and dispatch per
    object, was a third of create's config merge and most of `encode` (issue 13)."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def _str_to_list(value: Any) -> Any:
    # Docker's StrSlice: a lone string stands for a one-element list.
    return [value] if isinstance(value, str) else value


# A command-like list (Cmd, Entrypoint, CapAdd...) that also accepts a string.
StrSlice = Annotated[list[str] | None, BeforeValidator(_str_to_list)]


def _pair(value: Any) -> Any:
    # A Go [2]uint: missing elements are zero, extra ones dropped.
    if isinstance(value, list | tuple):
        return [*value, 0, 0][:2]
    return value


# ConsoleSize: always two numbers, [height, width].
UintPair = Annotated[tuple[int, int], BeforeValidator(_pair)]


def _json_zero(field: FieldInfo) -> Any:
    factory = field.default_factory
    if isinstance(factory, type) and issubclass(factory, ApiModel):
        # A nested model's zero from its fields' zeros: making one would build its
        # validator at import, which defer_build leaves for later (start-up).
        return {key: copy.deepcopy(zero) for key, zero, _, _ in factory._wire_keys}
    zero = field.get_default(call_default_factory=True)
    if isinstance(zero, BaseModel):
        return zero.model_dump(mode="json", by_alias=True)
    return list(zero) if isinstance(zero, tuple) else zero


def _is_nullable(field: FieldInfo) -> bool:
    return field.annotation is Any or type(None) in get_args(field.annotation)


def is_empty(value: Any, pointer: bool) -> bool:
    """Go's omitempty test; a pointer is empty only when nil (or an empty list or map)."""
    if value is None:
        return True
    if isinstance(value, list | dict):
        return not value
    if pointer:
        return False
    return value == "" or (isinstance(value, int | float) and value == 0)


class ApiModel(BaseModel):
    """Base of the Engine API models: Go's JSON decoding and encoding rules."""

    # defer_build: a validator is built at a model's first use, not at import: building
    # the ~30 API models was a tenth of the daemon's start-up. `build_deferred` builds
    # them once the daemon answers, so that the first request does not wait either.
    model_config = ConfigDict(
        populate_by_name=True, serialize_by_alias=True, extra="ignore", defer_build=True
    )

    # Per class: lower-cased JSON key or field name -> (field name, nullable).
    _json_keys: ClassVar[dict[str, tuple[str, bool]]]
    # Per class: (field name, JSON key, pointer) of each OmitEmpty field.
    _omit_empty: ClassVar[tuple[tuple[str, str, bool], ...]]
    # Per class: (JSON key, zero value as JSON, omitempty, pointer) of each field, in order.
    _wire_keys: ClassVar[tuple[tuple[str, Any, bool, bool], ...]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        keys: dict[str, tuple[str, bool]] = {}
        omit: list[tuple[str, str, bool]] = []
        wire: list[tuple[str, Any, bool, bool]] = []
        for name, field in cls.model_fields.items():
            # The JSON key differs from the attribute only where the API's name
            # cannot be one; it is then a serialization alias, so that code
            # builds models by attribute name.
            key = field.serialization_alias or field.alias or name
            nullable = _is_nullable(field)
            keys[name.lower()] = (name, nullable)
            keys[key.lower()] = (name, nullable)
            omit_empty = any(isinstance(m, _OmitEmpty) for m in field.metadata)
            if omit_empty:
                omit.append((name, key, nullable))
            wire.append((key, _json_zero(field), omit_empty, nullable))
        cls._json_keys = keys
        cls._omit_empty = tuple(omit)
        cls._wire_keys = tuple(wire)

    @classmethod
    def encode(cls, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """``given`` (JSON already, e.g. stored or an image's config) written as Go writes
        this struct: every field in order, absent ones at their zero value, omitempty ones
        left out when empty, unknown keys dropped. The values are not validated."""
        given = given or {}
        out: dict[str, Any] = {}
        for key, zero, omit_empty, pointer in cls._wire_keys:
            # An absent field's zero, copied where it can change (copy_json shares the
            # rest: deepcopy of ~70 absent fields a create was a fifth of the spec work).
            value = given[key] if key in given else copy_json(zero)
            if omit_empty and is_empty(value, pointer):
                continue
            out[key] = value
        return out

    @model_validator(mode="before")
    @classmethod
    def _read_like_go(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            known = cls._json_keys.get(key.lower()) if isinstance(key, str) else None
            if known is None:
                continue  # unknown keys are ignored, as newer clients send more
            target, nullable = known
            if value is None and not nullable:
                out.pop(target, None)  # null leaves the zero value
                continue
            out[target] = value
        return out

    @model_serializer(mode="wrap")
    def _write_like_go(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name, key, pointer in self._omit_empty:
                for k in (key, name):
                    if k in data and is_empty(data[k], pointer):
                        del data[k]
        return data

    def to_json(self) -> bytes:
        """Compact JSON as dockerd writes it."""
        return self.model_dump_json().encode()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict, with the API's key names."""
        return self.model_dump(mode="json")


def deferred_models() -> list[type[ApiModel]]:
    """The API models whose validators are not built yet (see ApiModel.model_config)."""
    found: list[type[ApiModel]] = []
    pending: list[type[ApiModel]] = [ApiModel]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if not sub.__pydantic_complete__:
                found.append(sub)
    return found


def build_deferred(model: type[ApiModel]) -> None:
    """Builds `model`'s validator and serializer now rather than at its first use."""
    model.model_rebuild()
