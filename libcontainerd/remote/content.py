"""containerd's content store: blobs by digest, written through resumable ingests.

Content.Write is a bidirectional stream, driven here message by message (not
through the generated helper, which cannot stop when the data source fails) so
that each step can act on containerd's answer: the first message asks for the
ingest's status, which says how much of an interrupted write with the same ref is
already there, or fails with AlreadyExists when the blob is committed (which also
puts it under the current lease); the data follows from that offset; the commit
names size and digest, which containerd checks over the whole blob. So one write
is one RPC, whether it uploads, resumes or finds the blob present.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import TypeVar

from grpclib.const import Cardinality

from ..errors import AlreadyExistsError, ConflictError, NotFoundError, from_grpc
from ..types import ContentInfo, IngestStatus, Opener, Progress
from .channel import CallStream
from .gen.containerd.services.content.v1 import (
    AbortRequest,
    DeleteContentRequest,
    InfoRequest,
    ListContentRequest,
    ReadContentRequest,
    StatusRequest,
    UpdateRequest,
    WriteAction,
    WriteContentRequest,
    WriteContentResponse,
)
from .gen.containerd.services.content.v1 import Info as InfoMessage
from .gen.google.protobuf import FieldMask
from .rpc import Connection, call

WRITE_METHOD = "/containerd.services.content.v1.Content/Write"
# containerd accepts messages up to 16 MiB; 1 MiB keeps memory flat and the stream busy.
WRITE_CHUNK = 1024 * 1024

T = TypeVar("T")


class RemoteContentStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def info(self, digest: str) -> ContentInfo:
        resp = await call(self._conn.stubs.content.info(InfoRequest(digest=digest)))
        assert resp.info is not None
        return _info(resp.info)

    async def list(self, *filters: str) -> list[ContentInfo]:
        found: list[ContentInfo] = []
        async for resp in _stream(
            self._conn.stubs.content.list(ListContentRequest(filters=list(filters)))
        ):
            found.extend(_info(info) for info in resp.info)
        return found

    async def read(self, digest: str, offset: int = 0, size: int = 0) -> AsyncIterator[bytes]:
        """The blob's bytes from `offset` (`size` 0: to the end), as containerd sends them."""
        request = ReadContentRequest(digest=digest, offset=offset, size=size)
        async for resp in _stream(self._conn.stubs.content.read(request)):
            if resp.data:
                yield resp.data

    async def read_blob(self, digest: str, limit: int) -> bytes:
        """A whole small blob (a manifest, a config); refuses one larger than `limit`."""
        data = bytearray()
        async for chunk in self.read(digest):
            data += chunk
            if len(data) > limit:
                raise ValueError(f"content {digest} is larger than {limit} bytes")
        return bytes(data)

    async def write(
        self,
        ref: str,
        expected: str,
        total: int,
        source: Opener,
        *,
        labels: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> bool:
        """Writes the blob `expected` of `total` bytes under the ingest `ref`.

        Returns True when this call committed it, False when it was already committed.
        An error from `source` or a cancellation leaves the ingest for a later write with
        the same ref to resume; content that fails the digest or size check at commit is
        discarded, so a retry starts over.
        """
        try:
            await self._write(ref, expected, total, source, labels or {}, progress)
        except _SourceError as exc:
            raise exc.error from None
        except Exception as exc:
            error = from_grpc(exc)
            if isinstance(error, AlreadyExistsError):
                return False
            if isinstance(error, ConflictError):
                # The content is wrong (digest or size): resuming it could never succeed.
                await self.abort(ref)
            raise error from exc
        return True

    async def _write(
        self,
        ref: str,
        expected: str,
        total: int,
        source: Opener,
        labels: Mapping[str, str],
        progress: Progress | None,
    ) -> None:
        async with self._conn.channel.request(
            WRITE_METHOD, Cardinality.STREAM_STREAM, WriteContentRequest, WriteContentResponse
        ) as stream:
            await stream.send_request()
            await stream.send_message(
                WriteContentRequest(
                    action=WriteAction.STAT, ref=ref, total=total, expected=expected
                )
            )
            status = await stream.recv_message()
            # Beyond the end means a stale ingest: writing at offset 0 truncates it.
            offset = status.offset if status is not None and status.offset <= total else 0
            if progress is not None:
                progress(offset)
            if offset < total:
                offset = await _send_data(stream, ref, offset, source(offset), progress)
            await stream.send_message(
                WriteContentRequest(
                    action=WriteAction.COMMIT,
                    ref=ref,
                    offset=offset,
                    total=total,
                    expected=expected,
                    labels=dict(labels),
                ),
                end=True,
            )
            while await stream.recv_message() is not None:
                pass
            await stream.recv_trailing_metadata()

    async def status(self, ref: str) -> IngestStatus | None:
        try:
            resp = await call(self._conn.stubs.content.status(StatusRequest(ref=ref)))
        except NotFoundError:
            return None
        if resp.status is None:
            return None
        st = resp.status
        return IngestStatus(ref=st.ref, offset=st.offset, total=st.total, expected=st.expected)

    async def abort(self, ref: str) -> None:
        with contextlib.suppress(NotFoundError):
            await call(self._conn.stubs.content.abort(AbortRequest(ref=ref)))

    async def update_labels(self, digest: str, labels: Mapping[str, str]) -> ContentInfo:
        """Sets (or, with an empty value, removes) the given labels; others stay."""
        resp = await call(
            self._conn.stubs.content.update(
                UpdateRequest(
                    info=InfoMessage(digest=digest, labels=dict(labels)),
                    update_mask=FieldMask(paths=[f"labels.{key}" for key in labels]),
                )
            )
        )
        assert resp.info is not None
        return _info(resp.info)

    async def delete(self, digest: str) -> None:
        await call(self._conn.stubs.content.delete(DeleteContentRequest(digest=digest)))


class _SourceError(Exception):
    """Carries a failure of the data source past the mapping of gRPC errors."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


async def _send_data(
    stream: CallStream,
    ref: str,
    offset: int,
    chunks: AsyncIterable[bytes],
    progress: Progress | None,
) -> int:
    """Sends the data in WRITE_CHUNK pieces, each acknowledged; returns the new offset."""
    buffer = bytearray()

    async def send(piece: bytes) -> None:
        nonlocal offset
        await stream.send_message(
            WriteContentRequest(action=WriteAction.WRITE, ref=ref, offset=offset, data=piece)
        )
        answer = await stream.recv_message()
        offset += len(piece)
        if answer is not None and answer.offset != offset:
            raise ConflictError(f"content ingest {ref}: at offset {answer.offset}, sent {offset}")
        if progress is not None:
            progress(offset)

    iterator = aiter(chunks)
    while True:
        try:
            chunk = await anext(iterator)
        except StopAsyncIteration:
            break
        except Exception as exc:
            raise _SourceError(exc) from exc
        buffer += chunk
        while len(buffer) >= WRITE_CHUNK:
            await send(bytes(buffer[:WRITE_CHUNK]))
            del buffer[:WRITE_CHUNK]
    if buffer:
        await send(bytes(buffer))
    return offset


async def _stream(responses: AsyncIterator[T]) -> AsyncIterator[T]:
    """A server stream, with gRPC failures turned into libcontainerd's errors."""
    try:
        async for item in responses:
            yield item
    except Exception as exc:
        raise from_grpc(exc) from exc


def _info(message: InfoMessage) -> ContentInfo:
    return ContentInfo(
        digest=message.digest,
        size=message.size,
        labels=dict(message.labels),
        created_at=message.created_at,
        updated_at=message.updated_at,
    )
