"""The bare HTTP/2 connection to containerd (libcontainerd.remote.h2unary), fed containerd's
frames by hand.

A GOAWAY: the calls it took go on to their answers, the ones after its last stream id fail
as UNAVAILABLE, no new call goes on that connection, and it closes after its last answer.
(containerd's Go server sends one, and keeps the connection until its calls end, on a
graceful stop and when a connection reaches its maximum age.)

A burst of calls larger than the connection's send window: the ones with no room wait for
containerd's WINDOW_UPDATE on the bare connection (they went to grpcio before).
"""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio
import hpack
import pytest

from libcontainerd.remote.h2unary import H2Connection, H2Unary, Unsuitable, answer_message

DATA, HEADERS, GOAWAY, WINDOW_UPDATE = 0, 1, 7, 8
END_STREAM, END_HEADERS = 0x1, 0x4


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    )


class _Transport(asyncio.Transport):
    """What the connection writes, and whether it closed it."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _answer(stream: int, message: bytes) -> bytes:
    """containerd's answer to a unary call: headers, the message, the trailers."""
    encoder = hpack.Encoder()
    head = encoder.encode([(":status", "200"), ("content-type", "application/grpc")])
    body = b"\x00" + len(message).to_bytes(4, "big") + message
    trailers = encoder.encode([("grpc-status", "0")])
    return (
        _frame(HEADERS, END_HEADERS, stream, head)
        + _frame(DATA, 0, stream, body)
        + _frame(HEADERS, END_HEADERS | END_STREAM, stream, trailers)
    )


async def test_a_goaway_ends_only_the_calls_after_its_last_stream() -> None:
    transport = _Transport()
    connection = H2Connection()
    connection.connection_made(transport)
    calls = [connection.start(b"", b"request") for _ in range(3)]
    assert [stream for stream, _, _ in calls] == [1, 3, 5]

    # Last stream 3, no error: containerd ends 1 and 3, and never saw 5.
    goaway = (3).to_bytes(4, "big") + (0).to_bytes(4, "big")
    connection.data_received(_frame(GOAWAY, 0, 0, goaway))
    (_, first, _), (_, second, _), (_, third, _) = calls
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async with asyncio.timeout(5):  # (a GOAWAY not heard would leave it waiting)
            await third
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert not first.done() and not second.done()
    # No new call on it: the channel opens another connection for the next one.
    assert not connection.usable
    with pytest.raises(Unsuitable):
        connection.start(b"", b"request")

    connection.data_received(_answer(1, b"one"))
    assert answer_message(*await first) == b"one"
    assert not transport.closed  # a call is still on it
    connection.data_received(_answer(3, b"three"))
    assert answer_message(*await second) == b"three"
    assert transport.closed  # closed after its last answer


class _Recorder:
    """The channel's count of calls sent; `sent` is set at the first."""

    def __init__(self) -> None:
        self.routes: list[str] = []
        self.sent = asyncio.Event()

    def record(self, route: str) -> None:
        self.routes.append(route)
        self.sent.set()


async def test_a_call_the_connection_window_has_no_room_for_waits_for_containerd() -> None:
    transport = _Transport()
    connection = H2Connection()
    connection.connection_made(transport)
    unary = H2Unary("/nowhere")
    unary._connection = connection  # (connected: the test plays containerd)
    big = b"x" * 30000
    first = connection.start(b"", big)
    second = connection.start(b"", big)  # 60,010 of the 65,535 bytes the window allows
    recorder = _Recorder()
    third = asyncio.ensure_future(unary.call(b"", big, "/route", recorder))
    await asyncio.sleep(0)
    assert not third.done() and recorder.routes == []  # waiting, nothing sent yet
    sent = len(transport.written)
    # containerd read the first two requests: the connection's window grows back.
    connection.data_received(_frame(WINDOW_UPDATE, 0, 0, (60010).to_bytes(4, "big")))
    async with asyncio.timeout(5):
        await recorder.sent.wait()
    assert recorder.routes == ["/route"] and len(transport.written) == sent + 1
    connection.data_received(_answer(5, b"answered"))
    async with asyncio.timeout(5):
        assert await third == b"answered"
    assert [stream for stream, _, _ in (first, second)] == [1, 3]


async def test_a_call_larger_than_a_new_streams_window_is_left_to_grpcio() -> None:
    connection = H2Connection()
    connection.connection_made(_Transport())
    unary = H2Unary("/nowhere")
    unary._connection = connection
    with pytest.raises(Unsuitable):
        await unary.call(b"", b"x" * 70000, "/route", _Recorder())
