"""containerd's image store: names pointing at a manifest or index, with labels."""

from __future__ import annotations

from collections.abc import Sequence

from ..types import Descriptor, ImageRecord
from .gen.containerd.services.images.v1 import (
    CreateImageRequest,
    DeleteImageRequest,
    GetImageRequest,
    ListImagesRequest,
    UpdateImageRequest,
)
from .gen.containerd.services.images.v1 import Image as ImageMessage
from .gen.containerd.types import Descriptor as DescriptorMessage
from .gen.google.protobuf import FieldMask
from .rpc import Connection, call


class RemoteImageStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, name: str) -> ImageRecord:
        resp = await call(self._conn.stubs.images.get(GetImageRequest(name=name)))
        assert resp.image is not None
        return record_from_message(resp.image)

    async def list(self, *filters: str) -> list[ImageRecord]:
        resp = await call(self._conn.stubs.images.list(ListImagesRequest(filters=list(filters))))
        return [record_from_message(image) for image in resp.images]

    async def create(self, record: ImageRecord) -> ImageRecord:
        """Raises AlreadyExistsError when the name is taken."""
        resp = await call(
            self._conn.stubs.images.create(CreateImageRequest(image=_message(record)))
        )
        assert resp.image is not None
        return record_from_message(resp.image)

    async def update(self, record: ImageRecord, fields: Sequence[str] = ()) -> ImageRecord:
        """Replaces the record, or only `fields` (`target`, `labels`, `labels.<key>`)."""
        mask = FieldMask(paths=list(fields)) if fields else None
        resp = await call(
            self._conn.stubs.images.update(
                UpdateImageRequest(image=_message(record), update_mask=mask)
            )
        )
        assert resp.image is not None
        return record_from_message(resp.image)

    async def delete(self, name: str, *, sync: bool = False) -> None:
        """`sync` waits for containerd's garbage collection to reclaim what it freed."""
        await call(self._conn.stubs.images.delete(DeleteImageRequest(name=name, sync=sync)))


def record_from_message(message: ImageMessage) -> ImageRecord:
    target = message.target or DescriptorMessage()
    return ImageRecord(
        name=message.name,
        target=Descriptor(
            media_type=target.media_type,
            digest=target.digest,
            size=target.size,
            annotations=dict(target.annotations),
        ),
        labels=dict(message.labels),
        created_at=message.created_at,
        updated_at=message.updated_at,
    )


def _message(record: ImageRecord) -> ImageMessage:
    target = record.target
    return ImageMessage(
        name=record.name,
        labels=dict(record.labels),
        target=DescriptorMessage(
            media_type=target.media_type,
            digest=target.digest,
            size=target.size,
            annotations=dict(target.annotations),
        ),
    )
