"""Reading json-file logs back: order, tail, since/until, streams and follow."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from daemon.logs.entry import LogEntry, encode_entry
from daemon.logs.jsonfile import JsonFileWriter
from daemon.logs.reader import read_logs

S = 1_000_000_000
BASE = 1_700_000_000 * S


def write_log(path: Path, entries: list[tuple[str, bytes, int]]) -> None:
    with path.open("ab") as out:
        for stream, data, time_ns in entries:
            out.write(encode_entry(stream, data, time_ns))


async def collect(path: Path, **kwargs: object) -> list[LogEntry]:
    return [entry async for entry in read_logs(str(path), **kwargs)]  # type: ignore[arg-type]


def texts(entries: list[LogEntry]) -> list[bytes]:
    return [entry.data for entry in entries]


async def test_missing_log_reads_as_empty(tmp_path: Path) -> None:
    assert await collect(tmp_path / "none.log") == []


async def test_reads_rotated_files_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    write_log(tmp_path / "c.log.2", [("stdout", b"a\n", BASE)])
    write_log(tmp_path / "c.log.1", [("stdout", b"b\n", BASE + 1)])
    write_log(path, [("stdout", b"c\n", BASE + 2), ("stderr", b"d", BASE + 3)])
    entries = await collect(path)
    assert texts(entries) == [b"a\n", b"b\n", b"c\n", b"d"]
    assert entries[-1] == LogEntry("stderr", b"d", BASE + 3)
    assert entries[-1].partial and not entries[0].partial
    assert entries[0].timestamp() == "2023-11-14T22:13:20.000000000Z"


async def test_tail_counts_across_files(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = JsonFileWriter(str(path), max_size=400, max_file=10)
    for i in range(60):
        writer.write("stdout" if i % 2 else "stderr", b"%02d\n" % i)
    writer.close()
    assert len(os.listdir(tmp_path)) > 3
    everything = texts(await collect(path))
    assert everything == [b"%02d\n" % i for i in range(60)]
    assert texts(await collect(path, tail=25)) == everything[-25:]
    assert texts(await collect(path, tail=1)) == [b"59\n"]
    assert texts(await collect(path, tail=0)) == []
    assert texts(await collect(path, tail=1000)) == everything
    assert texts(await collect(path, tail=-1)) == everything
    # The tail is taken before the streams are chosen, as in dockerd.
    assert texts(await collect(path, tail=4, stderr=False)) == [b"57\n", b"59\n"]


async def test_tail_of_large_file(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    write_log(path, [("stdout", b"%06d\n" % i, BASE + i) for i in range(20_000)])
    assert texts(await collect(path, tail=3)) == [b"019997\n", b"019998\n", b"019999\n"]
    assert len(await collect(path, tail=15_000)) == 15_000


async def test_since_and_until_are_inclusive(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    write_log(path, [("stdout", b"%d\n" % i, BASE + i * S // 2) for i in range(10)])
    since = 1_700_000_001.5  # the 4th entry
    until = 1_700_000_003.0  # the 7th entry
    assert texts(await collect(path, since=since)) == [b"%d\n" % i for i in range(3, 10)]
    assert texts(await collect(path, until=until)) == [b"%d\n" % i for i in range(0, 7)]
    assert texts(await collect(path, since=since, until=until)) == [
        b"3\n",
        b"4\n",
        b"5\n",
        b"6\n",
    ]
    assert texts(await collect(path, since=since, tail=2)) == [b"8\n", b"9\n"]
    assert texts(await collect(path, since=1_700_000_001.6, tail=8)) == [
        b"%d\n" % i for i in range(4, 10)
    ]


async def test_stream_choice(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    write_log(path, [("stdout", b"out\n", BASE), ("stderr", b"err\n", BASE + 1)])
    assert texts(await collect(path, stderr=False)) == [b"out\n"]
    assert texts(await collect(path, stdout=False)) == [b"err\n"]


async def test_unreadable_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    write_log(path, [("stdout", b"ok\n", BASE)])
    with path.open("ab") as out:
        out.write(b"not json\n")
    write_log(path, [("stdout", b"ok2\n", BASE + 1)])
    assert texts(await collect(path)) == [b"ok\n", b"ok2\n"]


async def test_follow_sees_new_lines_and_ends_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = JsonFileWriter(str(path))
    writer.write("stdout", b"before\n")
    stop = asyncio.Event()
    received: list[bytes] = []
    got_one = asyncio.Event()

    async def follow() -> None:
        async for entry in read_logs(str(path), follow=True, writer=writer, stop=stop):
            received.append(entry.data)
            got_one.set()

    task = asyncio.create_task(follow())
    await asyncio.wait_for(got_one.wait(), 2)
    assert received == [b"before\n"]
    for i in range(5):
        writer.write("stdout", b"live %d\n" % i)
        await asyncio.sleep(0.01)
    assert received[-1] == b"live 4\n"
    assert not task.done()
    # Written in the same turn as the stop: still delivered before the end.
    writer.write("stderr", b"last words\n")
    stop.set()
    await asyncio.wait_for(task, 2)
    assert received == [b"before\n"] + [b"live %d\n" % i for i in range(5)] + [b"last words\n"]
    writer.close()


async def test_follow_ends_when_writer_closes(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = JsonFileWriter(str(path))
    task = asyncio.create_task(collect(path, follow=True, writer=writer, tail=0))
    await asyncio.sleep(0.01)
    writer.write("stdout", b"one\n")
    writer.write("stdout", b"unterminated")
    writer.close()
    entries = await asyncio.wait_for(task, 2)
    assert texts(entries) == [b"one\n", b"unterminated"]


async def test_follow_across_rotations(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = JsonFileWriter(str(path), max_size=300, max_file=50)
    writer.write("stdout", b"start\n")
    stop = asyncio.Event()
    task = asyncio.create_task(collect(path, follow=True, writer=writer, stop=stop))
    expected = [b"start\n"]
    for i in range(200):
        line = b"line %03d\n" % i
        expected.append(line)
        writer.write("stdout", line)
        if i % 7 == 0:
            await asyncio.sleep(0)
    assert writer.generation > 20
    stop.set()
    entries = await asyncio.wait_for(task, 5)
    assert texts(entries) == expected
    writer.close()


async def test_follow_across_rotations_with_few_files_loses_only_old_data(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = JsonFileWriter(str(path), max_size=100, max_file=2)
    task = asyncio.create_task(collect(path, follow=True, writer=writer))
    await asyncio.sleep(0)
    for i in range(50):
        writer.write("stdout", b"%02d\n" % i)
    writer.close()
    got = texts(await asyncio.wait_for(task, 5))
    # The follower fell behind by many rotations; what it gets is in order and ends with the last.
    assert got == sorted(got)
    assert got[-1] == b"49\n"


async def test_follow_without_writer_returns_history(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    write_log(path, [("stdout", b"old\n", BASE)])
    entries = await asyncio.wait_for(collect(path, follow=True), 2)
    assert texts(entries) == [b"old\n"]


async def test_follow_until_ends_by_timer(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = JsonFileWriter(str(path))
    writer.write("stdout", b"x\n")
    started = time.monotonic()
    entries = await asyncio.wait_for(
        collect(path, follow=True, writer=writer, until=time.time() + 0.2), 2
    )
    assert texts(entries) == [b"x\n"]
    assert 0.15 <= time.monotonic() - started < 1.5
    # An until already past means no following at all.
    entries = await asyncio.wait_for(
        collect(path, follow=True, writer=writer, until=time.time() - 10), 2
    )
    assert entries == []
    writer.close()


async def test_follow_waits_for_log_to_appear(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = JsonFileWriter(str(path))
    path.unlink()  # as if reading began before the file existed
    task = asyncio.create_task(collect(path, follow=True, writer=writer))
    await asyncio.sleep(0.01)
    # Rotation recreates the file; the follower picks up the new one.
    writer.max_size = 1
    writer.write("stdout", b"a\n")
    writer.write("stdout", b"b\n")
    writer.close()
    assert texts(await asyncio.wait_for(task, 2)) == [b"b\n"]


async def test_consumer_can_stop_early(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    write_log(path, [("stdout", b"%d\n" % i, BASE + i) for i in range(10)])
    reader = read_logs(str(path))
    first = await reader.__anext__()
    await reader.aclose()
    assert first.data == b"0\n"
