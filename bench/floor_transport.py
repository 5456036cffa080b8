"""What one unary call to containerd costs on grpcio, against a bare HTTP/2 client in Python.

    .venv/bin/python -m bench.floor_transport [-n 2000] [--rounds 5] [--loop uvloop]

A measurement, not a client: after the codec, the event-topic and the call-layer cuts
(issue 13), most of the floor's CPU per RPC is grpcio's own (starting the batch in the
C-core on the loop's thread, completing it on grpc.aio's poller thread, waking the loop
through its socketpair). This weighs the other way, before anyone builds it: the same
`Version.Version` call, in turns, on libcontainerd's channel (grpcio) and on `BareH2`, a
few dozen lines of HTTP/2 on the loop's own unix-socket transport (one write per call;
reads parsed where they land; requests' HPACK blocks made once per route; answers'
blocks read by `hpack`, those of only indexed fields, Go's habit once its table is warm,
from a memo). It prints the loop thread's and the process's CPU per call (medians).

`BareH2` leaves out what a client needs and a probe does not: flow control on sending
(its requests are small), CONTINUATION frames, GOAWAY and RST_STREAM, deadlines,
cancellation, errors, reconnecting. Those would add to its cost; its numbers are a lower
bound. Root only (containerd).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import hpack

from bench.engines import run_report
from libcontainerd.remote import wirecodec
from libcontainerd.remote.channel import NAMESPACE_HEADER
from libcontainerd.remote.gen.containerd.services.version.v1 import VersionResponse
from libcontainerd.remote.gen.google.protobuf import Empty
from libcontainerd.remote.rpc import Connection
from tests.support.containerd import TestContainerd, sweep

ROUTE = "/containerd.services.version.v1.Version/Version"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS, PING = 0, 1, 4, 6
END_STREAM, END_HEADERS, ACK = 1, 4, 1
WINDOW = 2**31 - 1


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes((kind, flags))
        + struct.pack(">I", stream)
        + payload
    )


def literal(name: int | str, value: str) -> bytes:
    """An HPACK literal without indexing (no Huffman): a static-table name, or a new one."""
    data = value.encode()
    if isinstance(name, str):
        head = b"\x00" + bytes((len(name),)) + name.encode()
    else:
        head = bytes((name,)) if name < 15 else bytes((15, name - 15))
    return head + bytes((len(data),)) + data


def request_block(route: str, namespace: str) -> bytes:
    """POST, http (static 3 and 6), :path (4), :authority (1), content-type (31), te."""
    return (
        b"\x83\x86"
        + literal(4, route)
        + literal(1, "localhost")
        + literal(31, "application/grpc")
        + literal("te", "trailers")
        + literal(NAMESPACE_HEADER, namespace)
    )


Answer = tuple[bytes, list[tuple[bytes, bytes]]]


class BareH2(asyncio.Protocol):
    """The probe's HTTP/2 connection (module doc): windows opened wide at once, so the
    server never waits for a WINDOW_UPDATE; SETTINGS and PINGs acknowledged."""

    def __init__(self) -> None:
        self._buffer = b""
        self._next_stream = 1
        self._streams: dict[int, tuple[asyncio.Future[Answer], list[bytes], list[Any]]] = {}
        self._decoder = hpack.Decoder()
        self._indexed: dict[bytes, list[Any]] = {}  # blocks that leave the table as it is
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # (uvloop's is not a subclass)
        settings = frame(SETTINGS, 0, 0, struct.pack(">HI", 4, WINDOW))  # initial window
        more = frame(8, 0, 0, struct.pack(">I", WINDOW - 65535))  # the connection's
        self._transport.write(PREFACE + settings + more)

    def data_received(self, data: bytes) -> None:
        buffer, pos, replies = self._buffer + data, 0, []
        while len(buffer) - pos >= 9:
            length = int.from_bytes(buffer[pos : pos + 3], "big")
            if len(buffer) - pos < 9 + length:
                break
            kind, flags = buffer[pos + 3], buffer[pos + 4]
            stream = int.from_bytes(buffer[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            payload = buffer[pos + 9 : pos + 9 + length]
            pos += 9 + length
            if kind in (DATA, HEADERS):
                call = self._streams.get(stream)
                if kind == HEADERS:
                    headers = self._headers(payload)
                    if call is not None:
                        call[2].extend(headers)
                elif call is not None:
                    call[1].append(payload)
                if call is not None and flags & END_STREAM:
                    del self._streams[stream]
                    call[0].set_result((b"".join(call[1]), call[2]))
            elif kind == SETTINGS and not flags & ACK:
                replies.append(frame(SETTINGS, ACK, 0, b""))
            elif kind == PING and not flags & ACK:
                replies.append(frame(PING, ACK, 0, payload))
        self._buffer = buffer[pos:]
        if replies and self._transport is not None:
            self._transport.write(b"".join(replies))

    def _headers(self, block: bytes) -> list[Any]:
        if all(byte & 0x80 for byte in block):  # indexed fields only: the table unchanged
            known = self._indexed.get(block)
            if known is None:
                known = self._indexed[block] = list(self._decoder.decode(block, raw=True))
            return known
        self._indexed.clear()  # the dynamic table may move: what the memo read is stale
        return list(self._decoder.decode(block, raw=True))

    def call(self, block: bytes, message: bytes) -> asyncio.Future[Answer]:
        assert self._transport is not None
        stream, self._next_stream = self._next_stream, self._next_stream + 2
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._streams[stream] = (answer, [], [])
        body = b"\x00" + struct.pack(">I", len(message)) + message
        self._transport.write(
            frame(HEADERS, END_HEADERS, stream, block) + frame(DATA, END_STREAM, stream, body)
        )
        return answer


async def measure(args: argparse.Namespace) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="moorage-transport-"))
    containerd = TestContainerd(workdir / "containerd", namespace="transport")
    await containerd.start()
    conn = Connection(containerd.address, "transport")
    try:
        _, bare = await asyncio.get_running_loop().create_unix_connection(
            BareH2, containerd.address
        )
        block = request_block(ROUTE, "transport")

        async def on_bare() -> VersionResponse:
            data, headers = await bare.call(block, wirecodec.encode(Empty()))
            if (b"grpc-status", b"0") not in headers:
                raise RuntimeError(f"Version failed: {headers}")
            return wirecodec.decode(VersionResponse, data[5:])

        contenders: dict[str, Callable[[], Awaitable[VersionResponse]]] = {
            "grpcio (libcontainerd)": lambda: conn.stubs.version.version(Empty()),
            "bare HTTP/2 (probe)": on_bare,
        }
        for call in contenders.values():  # warm-up; and both answer alike
            answers = [await call() for _ in range(200)]
            assert answers[-1].version
        cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        for round_ in range(args.rounds):
            order = list(contenders.items())
            for name, call in order[round_ % 2 :] + order[: round_ % 2]:
                thread, process = time.thread_time(), time.process_time()
                for _ in range(args.n):
                    await call()
                thread, process = time.thread_time() - thread, time.process_time() - process
                cpu[name].append((thread / args.n, process / args.n))
    finally:
        await conn.close()
        await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
    lines = [
        f"Version.Version, CPU us per call, medians of {args.rounds} rounds of {args.n} "
        f"({args.loop}; load at start {args.load_at_start})",
        "",
        "| transport | loop thread | process |",
        "|---|---:|---:|",
    ]
    for name, rows in cpu.items():
        loop_us = statistics.median(r[0] for r in rows) * 1e6
        process_us = statistics.median(r[1] for r in rows) * 1e6
        lines.append(f"| {name} | {loop_us:.1f} | {process_us:.1f} |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> str:
    if args.loop == "uvloop":
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        return await asyncio.to_thread(lambda: runner.run(measure(args)))
    return await measure(args)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.floor_transport", description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=2000, help="calls per round and transport")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    p.add_argument("--out", default="")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_report("bench.floor_transport", parse, run, argv)


if __name__ == "__main__":
    sys.exit(main())
