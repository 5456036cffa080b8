"""Process stdio over named pipes, the way containerd shims expect it.

The FIFOs are made and opened before the task exists, so no early output is
lost. Output ends are opened read-only and non-blocking: Linux reports hang-up
on such a FIFO only after a writer has come and gone, so the reader waits for
the shim instead of seeing a premature end of stream. The stdin end is opened
read-write, which succeeds before the shim opens its side.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from .types import StdioSpec

_READ_SIZE = 64 * 1024


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


class FifoReader:
    """The daemon's read end of an output FIFO; `read()` gives b"" at end of stream."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        # Until a writer has opened the FIFO, read() would report end of stream; poll
        # readiness does not, so the first read waits for it.
        self._writer_seen = False

    async def read(self) -> bytes:
        loop = asyncio.get_running_loop()
        while True:
            fd = self._fd
            if fd is None:
                return b""
            if not self._writer_seen:
                await self._wait_readable(loop, fd)
                self._writer_seen = True
                continue
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                await self._wait_readable(loop, fd)
                continue
            if not data:
                self.close()
            return data

    @staticmethod
    async def _wait_readable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class FifoWriter:
    """The daemon's write end of a stdin FIFO."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @property
    def closed(self) -> bool:
        return self._fd is None

    async def write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view:
            fd = self._fd
            if fd is None:
                raise BrokenPipeError(errno.EPIPE, "stdin is closed")
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                await self._wait_writable(loop, fd)
                continue
            view = view[written:]

    @staticmethod
    async def _wait_writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_writer(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_writer(fd)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


@dataclass(frozen=True, slots=True)
class FifoPaths:
    """Where a process's FIFOs are; empty strings mean "no such stream"."""

    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    terminal: bool = False


class FifoSet:
    """The opened FIFOs of one process (the `Stdio` of libcontainerd's types)."""

    def __init__(
        self,
        paths: FifoPaths,
        stdin: FifoWriter | None,
        stdout: FifoReader | None,
        stderr: FifoReader | None,
        directory: Path | None = None,
    ) -> None:
        self.paths = paths
        self._stdin = stdin
        self._stdout = stdout
        self._stderr = stderr
        self._directory = directory

    @property
    def stdin(self) -> FifoWriter | None:
        return self._stdin

    @property
    def stdout(self) -> FifoReader | None:
        return self._stdout

    @property
    def stderr(self) -> FifoReader | None:
        return self._stderr

    @property
    def terminal(self) -> bool:
        return self.paths.terminal

    def close(self) -> None:
        for end in (self._stdin, self._stdout, self._stderr):
            if end is not None:
                end.close()

    def remove(self) -> None:
        """Close every end and delete the FIFO files (once the process is gone)."""
        self.close()
        for path in (self.paths.stdin, self.paths.stdout, self.paths.stderr):
            if path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        if self._directory is not None:
            with contextlib.suppress(OSError):
                self._directory.rmdir()


def _mkfifo(path: Path) -> None:
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            raise


def open_fifos(paths: FifoPaths) -> FifoSet:
    """Open existing FIFO paths (e.g. of a task found again after a restart)."""
    stdin = stdout = stderr = None
    try:
        if paths.stdin:
            stdin = FifoWriter(os.open(paths.stdin, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC))
        if paths.stdout:
            stdout = FifoReader(os.open(paths.stdout, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        if paths.stderr:
            stderr = FifoReader(os.open(paths.stderr, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    except BaseException:
        for end in (stdin, stdout, stderr):
            if end is not None:
                end.close()
        raise
    first = paths.stdout or paths.stdin or paths.stderr
    return FifoSet(paths, stdin, stdout, stderr, Path(first).parent if first else None)


def create_fifos(directory: Path, process_id: str, spec: StdioSpec) -> FifoSet:
    """Make and open the FIFOs of one process under `directory`."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    names: dict[str, str] = {}
    wanted = {
        "stdin": spec.stdin,
        "stdout": spec.stdout or spec.terminal,
        # A terminal merges stderr into its one output stream.
        "stderr": spec.stderr and not spec.terminal,
    }
    for stream, want in wanted.items():
        if want:
            path = directory / f"{process_id}-{stream}"
            _mkfifo(path)
            names[stream] = str(path)
    paths = FifoPaths(
        stdin=names.get("stdin", ""),
        stdout=names.get("stdout", ""),
        stderr=names.get("stderr", ""),
        terminal=spec.terminal,
    )
    return open_fifos(paths)


def remove_fifo_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
