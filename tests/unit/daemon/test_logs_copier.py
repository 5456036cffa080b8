"""The stdio copier: one reader per stream, fanned out to the log and to clients."""

from __future__ import annotations

import asyncio
from pathlib import Path

from daemon.logs.copier import Sink, copy_stream
from daemon.logs.jsonfile import JsonFileWriter
from daemon.logs.reader import read_logs


class FakeStream:
    """A FIFO stand-in: chunks are fed by the test, b"" at the end."""

    def __init__(self) -> None:
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        return await self.chunks.get()


class BrokenStream:
    async def read(self) -> bytes:
        raise OSError("EIO")


async def test_chunks_reach_log_and_clients(tmp_path: Path) -> None:
    writer = JsonFileWriter(str(tmp_path / "c.log"))
    stream = FakeStream()
    client: list[tuple[str, bytes]] = []
    sinks: list[Sink] = [writer.write, lambda name, data: client.append((name, data))]
    task = asyncio.create_task(copy_stream(stream, "stdout", sinks))
    for chunk in (b"hel", b"lo\nwor", b"ld"):
        stream.chunks.put_nowait(chunk)
    stream.chunks.put_nowait(b"")
    await asyncio.wait_for(task, 2)
    writer.close()
    # Clients get the raw chunks; the log gets lines, the last one without a newline.
    assert client == [
        ("stdout", b"hel"),
        ("stdout", b"lo\nwor"),
        ("stdout", b"ld"),
        ("stdout", b""),
    ]
    entries = [e.data async for e in read_logs(str(tmp_path / "c.log"))]
    assert entries == [b"hello\n", b"world"]


async def test_attach_and_detach_while_copying() -> None:
    stream = FakeStream()
    early: list[bytes] = []
    late: list[bytes] = []

    def early_sink(name: str, data: bytes) -> None:
        early.append(data)

    def late_sink(name: str, data: bytes) -> None:
        late.append(data)

    sinks: list[Sink] = [early_sink]
    task = asyncio.create_task(copy_stream(stream, "stderr", sinks))
    stream.chunks.put_nowait(b"1")
    await asyncio.sleep(0.01)
    sinks.append(late_sink)
    stream.chunks.put_nowait(b"2")
    await asyncio.sleep(0.01)
    sinks.remove(early_sink)
    stream.chunks.put_nowait(b"3")
    stream.chunks.put_nowait(b"")
    await asyncio.wait_for(task, 2)
    assert early == [b"1", b"2"]
    assert late == [b"2", b"3", b""]


async def test_async_sink_is_awaited_in_order() -> None:
    stream = FakeStream()
    got: list[bytes] = []

    async def slow(name: str, data: bytes) -> None:
        await asyncio.sleep(0.001)
        got.append(data)

    for chunk in (b"a", b"b", b"c", b""):
        stream.chunks.put_nowait(chunk)
    await asyncio.wait_for(copy_stream(stream, "stdout", [slow]), 2)
    assert got == [b"a", b"b", b"c", b""]


async def test_failing_sink_is_dropped_others_continue() -> None:
    stream = FakeStream()
    good: list[bytes] = []
    calls = 0

    def bad(name: str, data: bytes) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionResetError("client went away")

    sinks: list[Sink] = [bad, lambda name, data: good.append(data)]
    for chunk in (b"x", b"y", b""):
        stream.chunks.put_nowait(chunk)
    await asyncio.wait_for(copy_stream(stream, "stdout", sinks), 2)
    assert calls == 1
    assert len(sinks) == 1
    assert good == [b"x", b"y", b""]


async def test_read_error_ends_the_stream() -> None:
    got: list[bytes] = []
    await asyncio.wait_for(copy_stream(BrokenStream(), "stdout", [lambda n, d: got.append(d)]), 2)
    assert got == [b""]
