"""The gRPC channel to containerd's socket, on grpcio's C-core transport (`grpc.aio`).

betterproto2's generated stubs drive a channel through one method, grpclib's
`request(route, cardinality, request_type, response_type, ...)`: an async context
manager whose stream sends, ends and receives messages. `ContainerdChannel` gives
them that contract over `grpc.aio` multi-callables, so the stubs and messages stay
and the HTTP/2 work (framing, HPACK, flow control, the socket) is done in C instead
of by grpclib, h2, hpack and hyperframe in Python: 160 against 454 us of CPU per
small unary call here (issue 13; bench/LIFECYCLE_RESULTS.md).

It is also the one place every RPC passes: each call gets the namespace header, the
lease header inside `Connection.lease(...)` (rpc.py), and is counted when grpcio is
asked to start it. Messages are encoded and decoded by wirecodec.

Unary calls (all but the event stream and content transfers, 11 of a lifecycle's 12)
that do not go on the bare connection (h2unary.py, which the event stream takes too)
skip grpc.aio's Python call layer (`ContainerdChannel.unary_unary`): grpc.aio makes a
`Metadata`, a call object, a task that runs the call and a weak reference per call,
and the caller is woken through that task, about 110 us of CPU of ~330 per call here.
The call's batch is started on grpcio's Cython channel (`_AioCall.unary_unary`, what
grpc.aio's task itself awaits) from the caller's own coroutine; failures, cancellation
and closing behave as through grpc.aio (the same AioRpcError; a cancelled caller cancels
the call; `close` cancels the calls in flight). Those are grpcio's private names, which
is why requirements.lock pins grpcio.

Channel arguments, and why:
- a unix socket path only, and never a proxy: grpcio honours `http_proxy` and
  friends from the environment, which must not reroute a local socket;
- no message size limit, as grpclib had none (containerd's own, 16 MiB, is what
  bounds a content Write chunk or a Read answer);
- no keepalive pings (grpcio's client default, kept explicit), no retries (grpclib
  made none; a retry would also copy every content chunk into a retry buffer);
- its own connection (no subchannel shared with another channel to the same
  socket), so closing a client closes its connection;
- reconnect attempts from 50 ms up to 2 s apart, as the event monitor retries:
  grpcio's defaults (1 s, growing to 120 s) would keep a client away from a
  restarted containerd for minutes. Calls never wait for the connection
  (no wait_for_ready): while containerd is down they fail at once with
  UNAVAILABLE, which errors.py makes an UnavailableError.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Protocol, cast

import betterproto2
import grpc
import grpc.aio
from grpclib.const import Cardinality

from . import wirecodec
from .h2unary import H2Unary, ServerStream, Unsuitable, request_headers

# grpc.aio's own builder of the error a failed call raises (private; see above). A
# grpcio without it (or without the Cython channel's registered calls) gets the public
# path for every call: slower, the same behaviour.
_create_rpc_error: Callable[[Any, Any], grpc.aio.AioRpcError] | None = getattr(
    importlib.import_module("grpc.aio._call"), "_create_rpc_error", None
)
# `_register`'s answer for a grpcio without the private names: every call goes public.
_PUBLIC: tuple[bytes, int] = (b"", -1)
_CANCELLED = "Locally cancelled by application!"  # (grpc.aio's words for it)

NAMESPACE_HEADER = "containerd-namespace"
LEASE_HEADER = "containerd-lease"

CHANNEL_OPTIONS: Sequence[tuple[str, int]] = (
    ("grpc.enable_http_proxy", 0),
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.keepalive_time_ms", 2**31 - 1),
    ("grpc.enable_retries", 0),
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 2000),
)

Metadata = tuple[tuple[str, str], ...]

# Unary calls on the bare HTTP/2 connection (h2unary.py) where they fit, grpcio where not;
# MOORAGE_GRPC_BARE_UNARY=0 sends them all through grpcio (a switch to compare the two).
BARE_UNARY = os.environ.get("MOORAGE_GRPC_BARE_UNARY", "1") != "0"
# The server streams that go bare too (the same switch): the event subscription, a few
# small messages a lifecycle. Content and snapshot reads stay on grpcio, whose flow
# control holds back a sender the reader does not keep up with.
BARE_STREAMS = frozenset({"/containerd.services.events.v1.Events/Subscribe"})


class CallRecorder(Protocol):
    def record(self, path: str) -> None: ...


class ContainerdChannel:
    """One grpcio channel to containerd, bound to a namespace; its owner closes it."""

    def __init__(
        self,
        address: str,
        namespace: str,
        lease: ContextVar[str | None],
        recorder: CallRecorder,
    ) -> None:
        self._namespace: Metadata = ((NAMESPACE_HEADER, namespace),)
        self._lease = lease
        self._recorder = recorder
        self._channel: grpc.aio.Channel | None = grpc.aio.insecure_channel(
            "unix:" + os.path.abspath(address), options=list(CHANNEL_OPTIONS)
        )
        # One multi-callable per (route, response type): grpcio registers the method once.
        self._callables: dict[tuple[str, type[Any]], Any] = {}
        # Per unary route: its name as bytes and grpcio's registered-method handle.
        self._routes: dict[str, tuple[bytes, int]] = {}
        # Unary calls started by `unary_unary` and not ended, which `close` cancels.
        self._in_flight: set[Any] = set()
        self._bare = H2Unary(os.path.abspath(address)) if BARE_UNARY else None
        # Per route, the HPACK block of its calls outside a lease (h2unary.py).
        self._blocks: dict[str, bytes] = {}

    def request(
        self,
        route: str,
        cardinality: Cardinality,
        request_type: type[Any],
        response_type: type[Any],
        *,
        timeout: float | None = None,
        deadline: Any = None,
        metadata: Any = None,
    ) -> CallStream:
        """A stream for one call of `route`, as grpclib's `Channel.request` makes one."""
        if deadline is not None:
            timeout = deadline.time_remaining()
        return self._grpcio_stream(route, cardinality, response_type, timeout, metadata)

    def server_stream(
        self,
        route: str,
        response_type: type[Any],
        *,
        timeout: float | None = None,
        deadline: Any = None,
        metadata: Any = None,
    ) -> CallStream | BareCallStream:
        """A server-streaming call of `route`: on the bare connection for the routes of
        BARE_STREAMS without a timeout or caller metadata, else as `request` makes it."""
        if deadline is not None:
            timeout = deadline.time_remaining()
        if self._bare is not None and route in BARE_STREAMS and timeout is None and not metadata:
            return BareCallStream(self, route, response_type)
        kind = Cardinality.UNARY_STREAM
        return self._grpcio_stream(route, kind, response_type, timeout, metadata)

    def _grpcio_stream(
        self,
        route: str,
        cardinality: Cardinality,
        response_type: type[Any],
        timeout: float | None,
        metadata: Any,
    ) -> CallStream:
        headers = self._headers(metadata)
        key = (route, response_type)
        invoke = self._callables.get(key)
        if invoke is None:
            invoke = self._callables[key] = self._multi_callable(route, cardinality, response_type)
        return CallStream(route, cardinality, invoke, headers, timeout, self._recorder)

    async def open_bare_stream(self, route: str, request: Any) -> ServerStream:
        """A server-streaming call on the bare connection (Unsuitable: use grpcio)."""
        if self._bare is None or self._channel is None:
            raise ConnectionError("the channel to containerd is closed")
        data = wirecodec.encode(request)
        return await self._bare.open_stream(self._block(route), data, route, self._recorder)

    def _headers(self, metadata: Any) -> Metadata:
        headers = self._namespace
        lease = self._lease.get()
        if lease:
            headers += ((LEASE_HEADER, lease),)
        if metadata:
            items = metadata.items() if hasattr(metadata, "items") else metadata
            headers += tuple(items)  # (a `-bin` key's value stays bytes)
        return headers

    async def unary_unary(
        self,
        route: str,
        request: Any,
        response_type: type[Any],
        *,
        timeout: float | None = None,
        deadline: Any = None,
        metadata: Any = None,
    ) -> Any:
        """One unary call of `route`: its answer, or grpc.aio's AioRpcError (module doc)."""
        if deadline is not None:
            timeout = deadline.time_remaining()
        data = None
        if self._bare is not None and timeout is None and not metadata:
            if self._channel is None:
                raise ConnectionError("the channel to containerd is closed")
            data = wirecodec.encode(request)
            try:
                answer = await self._bare.call(self._block(route), data, route, self._recorder)
            except Unsuitable:
                pass  # (nothing was sent) through grpcio, which waits for its windows
            else:
                return wirecodec.decode(response_type, answer)
        found = self._routes.get(route)
        if found is None:
            found = self._routes[route] = self._register(route)
        if found is _PUBLIC:
            return await self._unary_unary_public(route, request, response_type, timeout, metadata)
        headers = self._headers(metadata)
        if data is None:
            data = wirecodec.encode(request)
        method, handle = found
        self._recorder.record(route)
        core: Any = cast(Any, self._channel)._channel  # (checked open by _register)
        call = core.call(
            method, None if timeout is None else time.time() + timeout, None, None, handle
        )
        self._in_flight.add(call)
        try:
            answer = await call.unary_unary(data, headers, None)
        finally:
            self._in_flight.discard(call)
            if not call.done():  # the caller was cancelled (or its coroutine closed)
                call.cancel(_CANCELLED)
        if call.is_ok():
            return wirecodec.decode(response_type, answer)
        if call.is_locally_cancelled():  # (by `close`)
            raise asyncio.CancelledError()
        assert _create_rpc_error is not None  # (checked by _register)
        raise _create_rpc_error(call._initial_metadata, call._status)

    async def _unary_unary_public(
        self,
        route: str,
        request: Any,
        response_type: type[Any],
        timeout: float | None,
        metadata: Any,
    ) -> Any:
        """One unary call through grpc.aio's public call layer."""
        return await unary_through_stream(
            self.request, route, request, response_type, timeout=timeout, metadata=metadata
        )

    def _block(self, route: str) -> bytes:
        """The HPACK block of a call of `route` (made once per route outside a lease)."""
        lease = self._lease.get()
        if lease:
            return request_headers(route, self._headers(None))
        block = self._blocks.get(route)
        if block is None:
            block = self._blocks[route] = request_headers(route, self._namespace)
        return block

    def _register(self, route: str) -> tuple[bytes, int]:
        channel = self._channel
        if channel is None:
            raise ConnectionError("the channel to containerd is closed")
        core: Any = cast(Any, channel)._channel
        if _create_rpc_error is None or not hasattr(core, "get_registered_call_handle"):
            return _PUBLIC
        method = route.encode()
        return method, core.get_registered_call_handle(method)

    def _multi_callable(
        self, route: str, cardinality: Cardinality, response_type: type[Any]
    ) -> Any:
        channel = self._channel
        if channel is None:
            raise ConnectionError("the channel to containerd is closed")
        make: Any = {  # (Any: the type stubs do not know `_registered_method`)
            Cardinality.UNARY_UNARY: channel.unary_unary,
            Cardinality.UNARY_STREAM: channel.unary_stream,
            Cardinality.STREAM_UNARY: channel.stream_unary,
            Cardinality.STREAM_STREAM: channel.stream_stream,
        }[cardinality]
        return make(
            route,
            request_serializer=wirecodec.encode,
            response_deserializer=_decoder(response_type),
            _registered_method=True,
        )

    async def close(self) -> None:
        """Cancels the calls in flight and closes the connection. grpcio's threads (a
        poller, the C-core's workers) and their fds belong to its process-wide state,
        which ends when the last channel object is freed: the channel and its
        multi-callables are let go of here, so that closing is what ends them."""
        channel, self._channel = self._channel, None
        self._callables.clear()
        self._routes.clear()
        if self._bare is not None:
            self._bare.close()
        for call in list(self._in_flight):
            call.cancel(_CANCELLED)
        if channel is not None:
            await channel.close()


async def unary_through_stream(
    open_stream: Callable[..., Any],
    route: str,
    request: Any,
    response_type: type[Any],
    **options: Any,
) -> Any:
    """A unary call on a channel's `request` contract (`open_stream`: grpclib's
    `Channel.request` or `ContainerdChannel.request`): its one message sent, its one
    answer read."""
    kind = Cardinality.UNARY_UNARY
    async with open_stream(route, kind, type(request), response_type, **options) as stream:
        await stream.send_message(request, end=True)
        return await stream.recv_message()


def _decoder(response_type: type[betterproto2.Message]) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        return wirecodec.decode(response_type, data)

    return decode


class CallStream:
    """One RPC, driven as grpclib's client `Stream` is: `send_request()` (streaming
    requests), `send_message(message, end=)`, `end()`, `recv_message()` (None at the
    end), async iteration, `recv_trailing_metadata()`. Leaving the `async with` block
    before the call is done (an error, a cancellation, a consumer that stops reading)
    cancels the call."""

    def __init__(
        self,
        route: str,
        cardinality: Cardinality,
        invoke: Any,
        headers: Metadata,
        timeout: float | None,
        recorder: CallRecorder,
    ) -> None:
        self._route = route
        self._cardinality = cardinality
        self._invoke = invoke
        self._headers = headers
        self._timeout = timeout
        self._recorder = recorder
        self._request: Any = None
        self._call: Any = None
        self._answered = False  # a unary answer was taken

    async def __aenter__(self) -> CallStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._call is not None and not self._call.done():
            self._call.cancel()

    def _start(self, request: Any = None) -> Any:
        self._recorder.record(self._route)
        args = () if request is None else (request,)
        self._call = self._invoke(*args, metadata=self._headers, timeout=self._timeout)
        return self._call

    @property
    def _streams_requests(self) -> bool:
        return self._cardinality in (Cardinality.STREAM_UNARY, Cardinality.STREAM_STREAM)

    async def send_request(self, end: bool = False) -> None:
        """Starts a call whose requests are streamed (a unary request starts its call)."""
        if self._call is None and self._streams_requests:
            call = self._start()
            if end:
                await call.done_writing()

    async def send_message(self, message: Any, *, end: bool = False) -> None:
        if not self._streams_requests:
            self._request = message  # the unary request goes out with the call
            if self._cardinality is Cardinality.UNARY_STREAM:
                self._start(message)
            return
        if self._call is None:
            self._start()
        await self._call.write(message)
        if end:
            await self._call.done_writing()

    async def end(self) -> None:
        if self._streams_requests:
            if self._call is None:
                self._start()
            await self._call.done_writing()

    async def recv_message(self) -> Any:
        """The next response; None after the last one."""
        if self._cardinality is Cardinality.UNARY_UNARY:
            if self._answered:
                return None
            self._answered = True
            return await self._start(self._request)
        if self._cardinality is Cardinality.STREAM_UNARY:
            if self._answered:
                return None
            self._answered = True
            return await self._call
        message = await self._call.read()
        return None if message is grpc.aio.EOF else message

    async def recv_trailing_metadata(self) -> Any:
        """Waits for the call's end; raises its error if it failed."""
        call = self._call
        code = await call.code()
        trailing = await call.trailing_metadata()
        if code is not grpc.StatusCode.OK:
            initial = await call.initial_metadata()
            raise grpc.aio.AioRpcError(code, initial, trailing, details=await call.details())
        return trailing

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while (message := await self.recv_message()) is not None:
            yield message


class BareCallStream:
    """A server-streaming call on the bare HTTP/2 connection (h2unary.py), driven as
    `ServiceStub._unary_stream` drives a `CallStream`: `send_message(request, end=True)`
    sends it, then messages are read until None. Leaving the `async with` block before
    the call ended resets it (containerd ends it). A call the connection cannot take
    (`Unsuitable`) goes through grpcio's `CallStream` instead."""

    def __init__(self, channel: ContainerdChannel, route: str, response_type: type[Any]) -> None:
        self._channel = channel
        self._route = route
        self._response_type = response_type
        self._stream: ServerStream | None = None
        self._grpcio: CallStream | None = None

    async def __aenter__(self) -> BareCallStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            self._stream.end()
        elif self._grpcio is not None:
            await self._grpcio.__aexit__(exc_type, exc, tb)

    async def send_message(self, message: Any, *, end: bool = False) -> None:
        try:
            self._stream = await self._channel.open_bare_stream(self._route, message)
        except Unsuitable:  # (nothing was sent)
            kind = Cardinality.UNARY_STREAM
            self._grpcio = self._channel._grpcio_stream(
                self._route, kind, self._response_type, None, None
            )
            await self._grpcio.send_message(message, end=end)

    async def recv_message(self) -> Any:
        """The next response; None after the last one."""
        if self._grpcio is not None:
            return await self._grpcio.recv_message()
        assert self._stream is not None, "send_message first"
        data = await self._stream.next()
        return None if data is None else wirecodec.decode(self._response_type, data)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while (message := await self.recv_message()) is not None:
            yield message
