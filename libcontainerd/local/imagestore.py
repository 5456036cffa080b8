"""The local image store: image records (name -> target, labels) in one JSON file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from ..types import Descriptor, ImageRecord
from .files import read_json, write_json


def _record(value: dict[str, Any]) -> ImageRecord:
    target = value["target"]
    return ImageRecord(
        name=value["name"],
        target=Descriptor(
            target["media_type"], target["digest"], target["size"], target.get("annotations", {})
        ),
        labels=value.get("labels", {}),
        created_at=datetime.fromisoformat(value["created_at"]),
        updated_at=datetime.fromisoformat(value["updated_at"]),
    )


def _value(record: ImageRecord) -> dict[str, Any]:
    target = record.target
    return {
        "name": record.name,
        "target": {
            "media_type": target.media_type,
            "digest": target.digest,
            "size": target.size,
            "annotations": dict(target.annotations),
        },
        "labels": dict(record.labels),
        "created_at": (record.created_at or datetime.now(UTC)).isoformat(),
        "updated_at": (record.updated_at or datetime.now(UTC)).isoformat(),
    }


class LocalImageStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        # Called after a record is deleted: what it referenced may be collected.
        self.after_delete: Callable[[], Awaitable[None]] | None = None
        try:
            self._records = {v["name"]: _record(v) for v in read_json(path)}
        except FileNotFoundError:
            self._records = {}

    def _save(self) -> None:
        write_json(self._path, [_value(r) for r in self._records.values()])

    async def list(self, *filters: str) -> list[ImageRecord]:
        names = set()
        for selector in filters:
            key, _, value = selector.partition("==")
            if key != "name":
                raise InvalidArgumentError(f"image filter {selector!r} is not supported")
            names.add(value.strip('"'))
        return [r for r in self._records.values() if not names or r.name in names]

    async def get(self, name: str) -> ImageRecord:
        try:
            return self._records[name]
        except KeyError:
            raise NotFoundError(f"image {name!r}: not found") from None

    async def create(self, record: ImageRecord) -> ImageRecord:
        if record.name in self._records:
            raise AlreadyExistsError(f"image {record.name!r}: already exists")
        now = datetime.now(UTC)
        self._records[record.name] = replace(record, created_at=now, updated_at=now)
        self._save()
        return self._records[record.name]

    async def update(self, record: ImageRecord, fields: Sequence[str] = ()) -> ImageRecord:
        current = await self.get(record.name)
        if not fields:
            updated = replace(record, created_at=current.created_at)
        else:
            labels = dict(current.labels)
            target = current.target
            for name in fields:
                if name == "target":
                    target = record.target
                elif name == "labels":
                    labels = dict(record.labels)
                elif name.startswith("labels."):
                    key = name.removeprefix("labels.")
                    if record.labels.get(key):
                        labels[key] = record.labels[key]
                    else:
                        labels.pop(key, None)
                else:
                    raise InvalidArgumentError(f"image field {name!r} cannot be updated")
            updated = replace(current, target=target, labels=labels)
        self._records[record.name] = replace(updated, updated_at=datetime.now(UTC))
        self._save()
        return self._records[record.name]

    async def delete(self, name: str, *, sync: bool = False) -> None:
        """The collection runs before this returns, whatever `sync` says."""
        if self._records.pop(name, None) is None:
            raise NotFoundError(f"image {name!r}: not found")
        self._save()
        if self.after_delete is not None:
            await self.after_delete()
