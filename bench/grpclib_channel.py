"""libcontainerd's channel to containerd as it was on grpclib (h2 in Python), for comparison.

bench/client_variants.py puts it in place of `ContainerdChannel` (same constructor, same
`request` contract) to show what grpcio's C-core transport buys. It is the stack
libcontainerd had before (main d657486): grpclib's Channel, optionally with the writes of
one loop turn sent as one (`coalesce`), the namespace and lease headers and the call count
added at grpclib's SendRequest event, messages through libcontainerd's wire codec; and
grpclib's errors are handed on as grpcio's, the one kind errors.py reads.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from types import TracebackType
from typing import Any, cast

import grpc
import grpc.aio
from grpclib.client import Channel, Handler
from grpclib.encoding.base import CodecBase
from grpclib.events import SendRequest, listen
from grpclib.exceptions import GRPCError, StreamTerminatedError
from grpclib.protocol import H2Protocol

from libcontainerd.remote import wirecodec
from libcontainerd.remote.channel import (
    LEASE_HEADER,
    NAMESPACE_HEADER,
    CallRecorder,
    unary_through_stream,
)

_STATUS = {code.value[0]: code for code in grpc.StatusCode}


class CoalescingTransport(asyncio.Transport):
    """Stands in for the socket's transport: `write` gathers, the loop turn's end sends."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return  # grpclib writes h2's data_to_send() even when it is empty
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))


class _CoalescingProtocol(H2Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(CoalescingTransport(cast(asyncio.Transport, transport)))


class CoalescingChannel(Channel):
    def _protocol_factory(self) -> H2Protocol:
        return _CoalescingProtocol(Handler(), self._config, self._h2_config)


class WireCodec(CodecBase):
    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: type[Any]) -> bytes:
        return wirecodec.encode(message)

    def decode(self, data: bytes, message_type: type[Any]) -> Any:
        return wirecodec.decode(message_type, data)


class GrpclibChannel:
    def __init__(
        self,
        address: str,
        namespace: str,
        lease: ContextVar[str | None],
        recorder: CallRecorder,
        coalesce: bool = True,
    ) -> None:
        self._namespace = namespace
        self._lease = lease
        self._recorder = recorder
        channel_class = CoalescingChannel if coalesce else Channel
        self._channel = channel_class(path=address, codec=WireCodec())
        listen(self._channel, SendRequest, self._on_send_request)

    async def _on_send_request(self, event: SendRequest) -> None:
        event.metadata[NAMESPACE_HEADER] = self._namespace
        lease = self._lease.get()
        if lease:
            event.metadata[LEASE_HEADER] = lease
        self._recorder.record(event.method_name)

    def request(self, *args: Any, **kwargs: Any) -> _Translated:
        return _Translated(self._channel.request(*args, **kwargs))

    async def unary_unary(
        self, route: str, request: Any, response_type: type[Any], **kwargs: Any
    ) -> Any:
        """The stubs' unary calls (libcontainerd's channel has its own path for them)."""
        return await unary_through_stream(self.request, route, request, response_type, **kwargs)

    async def close(self) -> None:
        self._channel.close()


class _Translated:
    """grpclib's stream, its failures raised as grpcio's AioRpcError."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aenter__(self) -> Any:
        return await self._stream.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            handled: bool | None = await self._stream.__aexit__(exc_type, exc, tb)
        except (GRPCError, StreamTerminatedError) as raised:
            raise _as_grpcio(raised) from raised
        if isinstance(exc, (GRPCError, StreamTerminatedError)):
            raise _as_grpcio(exc) from exc
        return handled


def _as_grpcio(exc: GRPCError | StreamTerminatedError) -> grpc.aio.AioRpcError:
    if isinstance(exc, GRPCError):
        code, details = _STATUS[exc.status.value], exc.message
    else:
        code, details = grpc.StatusCode.UNAVAILABLE, str(exc)
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)
