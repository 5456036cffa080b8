"""The FIFO ends own their fds: closing one while a read or write waits on it is safe.

Pure fd logic on the test's own loop (uvloop, as the daemon's): no containerd.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from libcontainerd.fifo import FifoPaths, FifoReader, create_fifos, open_fifos
from libcontainerd.types import StdioSpec

FIFO_CAPACITY = 1 << 20  # larger than any pipe buffer Linux gives by default


@contextmanager
def loop_errors() -> Iterator[list[dict[str, Any]]]:
    """What reaches the loop's exception handler meanwhile (e.g. a callback on a closed fd)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)


def _fifo(tmp_path: Path, name: str) -> str:
    path = str(tmp_path / name)
    os.mkfifo(path, 0o600)
    return path


async def _waiting(task: asyncio.Task[Any]) -> None:
    # One loop turn runs the task up to its first await: with nothing to read (or no
    # room to write) that is the wait on the fd.
    await asyncio.sleep(0)
    assert not task.done()


async def test_close_while_a_read_waits_gives_end_of_stream(tmp_path: Path) -> None:
    path = _fifo(tmp_path, "out")
    fifos = open_fifos(FifoPaths(stdout=path))
    reader = fifos.stdout
    assert reader is not None
    # A writer that stays and is silent: the read waits for data, not for a writer.
    writer_fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        with loop_errors() as errors:
            read = asyncio.create_task(reader.read())
            await _waiting(read)
            fifos.close()
            assert await asyncio.wait_for(read, 5) == b""
            assert await reader.read() == b""
        assert errors == []
    finally:
        os.close(writer_fd)


async def test_a_closed_fd_number_can_be_reused_by_the_loop(tmp_path: Path) -> None:
    path = _fifo(tmp_path, "out")
    reader_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    reader = FifoReader(reader_fd)
    loop = asyncio.get_running_loop()
    with loop_errors() as errors:
        read = asyncio.create_task(reader.read())
        await _waiting(read)
        reader.close()
        assert await asyncio.wait_for(read, 5) == b""

        # The same fd number, now a pipe: a transport on it, and a reader of our own.
        pipe_r, pipe_w = os.pipe()
        if pipe_r != reader_fd:
            os.dup2(pipe_r, reader_fd)
            os.close(pipe_r)
        received: asyncio.Queue[bytes] = asyncio.Queue()

        class Collect(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                received.put_nowait(data)

        transport, _ = await loop.connect_read_pipe(Collect, os.fdopen(reader_fd, "rb", 0))
        try:
            os.write(pipe_w, b"reused")
            assert await asyncio.wait_for(received.get(), 5) == b"reused"
        finally:
            transport.close()
            os.close(pipe_w)

        # And a FIFO reader that gets the number again is woken by its data.
        again = FifoReader(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        writer_fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(writer_fd, b"after")
            assert await asyncio.wait_for(again.read(), 5) == b"after"
        finally:
            os.close(writer_fd)
            again.close()
    assert errors == []


async def test_close_while_a_write_waits_breaks_the_pipe(tmp_path: Path) -> None:
    path = _fifo(tmp_path, "in")
    fifos = open_fifos(FifoPaths(stdin=path))
    writer = fifos.stdin
    assert writer is not None
    with loop_errors() as errors:
        # Nobody reads: the write fills the FIFO and waits for room.
        write = asyncio.create_task(writer.write(b"x" * FIFO_CAPACITY))
        await _waiting(write)
        fifos.close()
        with pytest.raises(BrokenPipeError):
            await asyncio.wait_for(write, 5)
        with pytest.raises(BrokenPipeError):
            await writer.write(b"more")
    assert errors == []


async def test_writes_from_two_callers_are_not_interleaved(tmp_path: Path) -> None:
    path = _fifo(tmp_path, "in")
    fifos = open_fifos(FifoPaths(stdin=path))
    writer = fifos.stdin
    assert writer is not None
    reader_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    loop = asyncio.get_running_loop()
    first, second = b"a" * FIFO_CAPACITY, b"b" * FIFO_CAPACITY
    try:
        writes = asyncio.gather(writer.write(first), writer.write(second))
        received = bytearray()
        readable = asyncio.Event()
        loop.add_reader(reader_fd, readable.set)
        try:
            async with asyncio.timeout(10):
                while len(received) < len(first) + len(second):
                    await readable.wait()
                    readable.clear()
                    try:
                        received += os.read(reader_fd, 1 << 16)
                    except BlockingIOError:
                        continue
        finally:
            loop.remove_reader(reader_fd)
        await writes
        assert bytes(received) == first + second
    finally:
        fifos.close()
        os.close(reader_fd)


async def test_a_stream_read_in_many_waits_arrives_whole_and_in_order(tmp_path: Path) -> None:
    path = _fifo(tmp_path, "out")
    reader = FifoReader(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    writer_fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    chunks = [bytes([65 + n]) * (n + 1) for n in range(20)]
    received = bytearray()
    try:
        with loop_errors() as errors:
            for chunk in chunks:
                # Sometimes a read waits for the chunk, sometimes the chunk is there
                # before any read waits (the fd registered for a wait that has ended).
                if len(received) % 2:
                    os.write(writer_fd, chunk)
                    received += await asyncio.wait_for(reader.read(), 5)
                else:
                    read = asyncio.create_task(reader.read())
                    await _waiting(read)
                    os.write(writer_fd, chunk)
                    received += await asyncio.wait_for(read, 5)
                # The owner busy elsewhere while more arrives: a loop turn or two
                # with the fd readable and no read waiting.
                await asyncio.sleep(0)
            os.close(writer_fd)
            writer_fd = -1
            assert await asyncio.wait_for(reader.read(), 5) == b""
        assert bytes(received) == b"".join(chunks)
        assert errors == []
    finally:
        if writer_fd >= 0:
            os.close(writer_fd)
        reader.close()


async def test_a_cancelled_read_leaves_the_reader_usable(tmp_path: Path) -> None:
    path = _fifo(tmp_path, "out")
    reader = FifoReader(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    writer_fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(writer_fd, b"first")
        assert await asyncio.wait_for(reader.read(), 5) == b"first"
        read = asyncio.create_task(reader.read())
        await _waiting(read)
        read.cancel()
        with pytest.raises(asyncio.CancelledError):
            await read
        os.write(writer_fd, b"second")
        assert await asyncio.wait_for(reader.read(), 5) == b"second"
    finally:
        os.close(writer_fd)
        reader.close()


def test_an_execs_fifos_share_the_tasks_directory_and_leave_it(tmp_path: Path) -> None:
    directory = tmp_path / "container"
    both = StdioSpec(stdin=False, stdout=True, stderr=True, terminal=False)
    task = create_fifos(str(directory), "init", both)
    exec_ = create_fifos(str(directory), "exec1", both, exec_process=True)
    assert exec_.paths.stdout == str(directory / "exec1-stdout")
    exec_.remove()
    # The exec's FIFOs are gone, the task's and their directory are not.
    assert sorted(p.name for p in directory.iterdir()) == ["init-stderr", "init-stdout"]
    task.remove()
    assert not directory.exists()


def test_an_exec_makes_the_directory_when_it_is_gone(tmp_path: Path) -> None:
    directory = tmp_path / "cleaned" / "container"
    spec = StdioSpec(stdin=True, stdout=True, stderr=False, terminal=False)
    exec_ = create_fifos(str(directory), "exec1", spec, exec_process=True)
    try:
        assert sorted(p.name for p in directory.iterdir()) == ["exec1-stdin", "exec1-stdout"]
    finally:
        exec_.remove()
    assert directory.is_dir()


def _read_to_the_end(path: str) -> bytes:
    """A reader that comes late, as the shim's may: a blocking open (it waits for a
    writer), then everything up to end of input."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = b""
        while chunk := os.read(fd, 65536):
            data += chunk
        return data
    finally:
        os.close(fd)


async def test_ending_stdin_before_its_reader_opens_still_reaches_it(tmp_path: Path) -> None:
    """The shim opens its read end of stdin in its own time, maybe after a short input
    has been written and ended: that reader must still get the input and then its end,
    not wait for ever for a writer."""
    fifos = create_fifos(str(tmp_path), "p", StdioSpec(stdin=True))
    assert fifos.stdin is not None
    await fifos.stdin.write(b"short input\n")
    ending = asyncio.create_task(fifos.end_stdin())
    await _waiting(ending)  # no reader yet: our end is not let go of
    async with asyncio.timeout(10):
        data = await asyncio.to_thread(_read_to_the_end, fifos.paths.stdin)
        await ending
    assert data == b"short input\n"
    assert fifos.stdin.closed
    fifos.remove()


async def test_ending_stdin_with_its_reader_there_is_at_once(tmp_path: Path) -> None:
    fifos = create_fifos(str(tmp_path), "p", StdioSpec(stdin=True))
    assert fifos.stdin is not None
    reader = os.open(fifos.paths.stdin, os.O_RDONLY | os.O_NONBLOCK)
    try:
        await fifos.stdin.write(b"x")
        ending = asyncio.create_task(fifos.end_stdin())
        await asyncio.sleep(0)  # one turn: with the reader there, nothing is waited for
        assert ending.done()
        assert os.read(reader, 10) == b"x"
        assert os.read(reader, 10) == b""  # and then end of input
    finally:
        os.close(reader)
        fifos.remove()
