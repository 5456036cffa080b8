"""The base class of the generated service stubs: each RPC method as one channel call.

betterproto2's generated stubs subclass `betterproto2.grpclib.ServiceStub`, and importing
that package also imports grpclib's server side and h2 (~45 ms of CPU and ~8 MB of
memory at every start), none of which runs now that calls go over grpcio
(channel.py). scripts/gen-proto.sh points the stubs at this module instead; the four
call shapes the stubs use are written here: unary calls on the channel's `unary_unary`,
the streaming ones on its `request` contract.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from grpclib.const import Cardinality

if TYPE_CHECKING:
    from .channel import CallStream, ContainerdChannel

Requests = Iterable[Any] | AsyncIterable[Any]


class ServiceStub:
    def __init__(
        self,
        channel: ContainerdChannel,
        *,
        timeout: float | None = None,
        deadline: Any = None,
        metadata: Any = None,
    ) -> None:
        self.channel = channel
        self.timeout = timeout
        self.deadline = deadline
        self.metadata = metadata

    def _open(
        self,
        route: str,
        cardinality: Cardinality,
        request_type: type[Any],
        response_type: type[Any],
        timeout: float | None,
        deadline: Any,
        metadata: Any,
    ) -> CallStream:
        """The call's stream; a per-call timeout, deadline or metadata overrides the stub's."""
        return self.channel.request(
            route,
            cardinality,
            request_type,
            response_type,
            timeout=self.timeout if timeout is None else timeout,
            deadline=self.deadline if deadline is None else deadline,
            metadata=self.metadata if metadata is None else metadata,
        )

    def _unary_unary(
        self,
        route: str,
        request: Any,
        response_type: type[Any],
        *,
        timeout: float | None = None,
        deadline: Any = None,
        metadata: Any = None,
    ) -> Coroutine[Any, Any, Any]:
        # The channel's coroutine itself, for the stub to await: no frame of its own that
        # every call would create and every completion pass through.
        return self.channel.unary_unary(
            route,
            request,
            response_type,
            timeout=self.timeout if timeout is None else timeout,
            deadline=self.deadline if deadline is None else deadline,
            metadata=self.metadata if metadata is None else metadata,
        )

    async def _unary_stream(
        self,
        route: str,
        request: Any,
        response_type: type[Any],
        *,
        timeout: float | None = None,
        deadline: Any = None,
        metadata: Any = None,
    ) -> AsyncIterator[Any]:
        async with self.channel.server_stream(
            route,
            response_type,
            timeout=self.timeout if timeout is None else timeout,
            deadline=self.deadline if deadline is None else deadline,
            metadata=self.metadata if metadata is None else metadata,
        ) as stream:
            await stream.send_message(request, end=True)
            async for message in stream:
                yield message

    async def _stream_unary(
        self,
        route: str,
        requests: Requests,
        request_type: type[Any],
        response_type: type[Any],
        *,
        timeout: float | None = None,
        deadline: Any = None,
        metadata: Any = None,
    ) -> Any:
        kind = Cardinality.STREAM_UNARY
        async with self._open(
            route, kind, request_type, response_type, timeout, deadline, metadata
        ) as stream:
            await stream.send_request()
            await _send_all(stream, requests)
            return await stream.recv_message()

    async def _stream_stream(
        self,
        route: str,
        requests: Requests,
        request_type: type[Any],
        response_type: type[Any],
        *,
        timeout: float | None = None,
        deadline: Any = None,
        metadata: Any = None,
    ) -> AsyncIterator[Any]:
        kind = Cardinality.STREAM_STREAM
        async with self._open(
            route, kind, request_type, response_type, timeout, deadline, metadata
        ) as stream:
            await stream.send_request()
            # Requests go out while answers are read; the sender is this call's own task.
            sender = asyncio.ensure_future(_send_all(stream, requests))
            try:
                async for message in stream:
                    yield message
                await sender  # (its failure, if any, is the call's)
            finally:
                if not sender.done():
                    sender.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sender


async def _send_all(stream: CallStream, requests: Requests) -> None:
    if isinstance(requests, AsyncIterable):
        async for request in requests:
            await stream.send_message(request)
    else:
        for request in requests:
            await stream.send_message(request)
    await stream.end()
