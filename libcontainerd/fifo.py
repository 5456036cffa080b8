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

from .dirs import make_private_dir
from .types import StdioSpec

_READ_SIZE = 64 * 1024
# How long ending stdin waits for the shim's reader to be there (FifoSet.end_stdin).
STDIN_READER_WAIT = 2.0


class _LoopFd:
    """The one owner of a non-blocking fd that waits for readiness through the loop.

    Nothing else closes the fd. `close()` takes it off the loop before it closes it,
    and wakes a wait under way, which then finds the fd gone: the loop never watches
    an fd number that is closed (and maybe reused by then, e.g. by a transport).

    The fd stays registered from one wait to the next: a stream read to its end waits
    many times, and each registration costs the loop a poll handle and two epoll_ctl
    calls. The loop polls level-triggered, so a readiness that finds no wait under way
    (the owner is busy with what it read) takes the fd off the loop again, or the loop
    would call back on every turn; the next wait registers it anew.

    Why not the loop's pipe transports: a write transport takes the FIFO's becoming
    readable as the peer going away, yet stdin is opened read-write and is readable
    whenever it holds our own unread bytes (uvloop's even reads them back out). A read
    transport on uvloop has libuv close the fd and then closes the file object it was
    given as well, while asyncio's closes only the file object: who closes the fd, and
    how often, would depend on the loop.
    """

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd
        # Where the fd is registered: the loop, and for writing or for reading.
        self._registered: tuple[asyncio.AbstractEventLoop, bool] | None = None
        # The future the wait under way awaits. One at a time; the ends serialise
        # their callers.
        self._waiter: asyncio.Future[None] | None = None

    async def wait(self, *, writable: bool) -> None:
        """Until the fd is ready, or closed (then `fd` is None)."""
        fd = self.fd
        if fd is None:
            return
        if self._waiter is not None:
            raise RuntimeError(f"fd {fd} already has a waiter")
        loop = asyncio.get_running_loop()
        if self._registered != (loop, writable):
            self._unregister()
            if writable:
                loop.add_writer(fd, self._ready)
            else:
                loop.add_reader(fd, self._ready)
            self._registered = (loop, writable)
        ready = self._waiter = loop.create_future()
        try:
            await ready
        finally:
            if self._waiter is ready:
                self._waiter = None

    def _ready(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        else:
            self._unregister()

    def _unregister(self) -> None:
        registered, self._registered = self._registered, None
        if registered is None or self.fd is None:
            return
        loop, writable = registered
        if loop.is_closed():
            return
        if writable:
            loop.remove_writer(self.fd)
        else:
            loop.remove_reader(self.fd)

    def close(self) -> None:
        fd = self.fd
        if fd is None:
            return
        self._unregister()
        self.fd = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        os.close(fd)


class FifoReader:
    """The daemon's read end of an output FIFO; `read()` gives b"" at end of stream.

    One reader at a time. `close()` may come at any moment: a read waiting then
    returns b"" (what was still in the FIFO is dropped with it).
    """

    def __init__(self, fd: int) -> None:
        self._fd = _LoopFd(fd)
        # Until a writer has opened the FIFO, read() would report end of stream; poll
        # readiness does not, so the first read waits for it.
        self._writer_seen = False

    async def read(self) -> bytes:
        while True:
            fd = self._fd.fd
            if fd is None:
                return b""
            if not self._writer_seen:
                await self._fd.wait(writable=False)
                self._writer_seen = True
                continue
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                await self._fd.wait(writable=False)
                continue
            if not data:
                self.close()
            return data

    def close(self) -> None:
        self._fd.close()


class FifoWriter:
    """The daemon's write end of a stdin FIFO.

    Writers are served one at a time, each chunk whole. Once closed (also while a
    write waits for room), `write()` raises BrokenPipeError.
    """

    def __init__(self, fd: int) -> None:
        self._fd = _LoopFd(fd)
        self._lock = asyncio.Lock()

    @property
    def closed(self) -> bool:
        return self._fd.fd is None

    async def write(self, data: bytes) -> None:
        async with self._lock:
            view = memoryview(data)
            while view:
                fd = self._fd.fd
                if fd is None:
                    raise BrokenPipeError(errno.EPIPE, "stdin is closed")
                try:
                    written = os.write(fd, view)
                except BlockingIOError:
                    await self._fd.wait(writable=True)
                    continue
                view = view[written:]

    def close(self) -> None:
        self._fd.close()

    async def close_once_read(self, path: str) -> None:
        """Close this end so that the shim's reader of the FIFO at `path` sees end of input,
        once that reader exists (see `FifoSet.end_stdin`); writes under way go first."""
        async with self._lock:
            if self.closed:
                return
            try:
                # A write-only end: it keeps what is buffered, and is no reader itself.
                holder = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                self.close()  # the FIFO is gone (its process deleted): no reader to wait for
                return
            self.close()
            try:
                await _reader_present(path)
            finally:
                os.close(holder)


async def _reader_present(path: str) -> None:
    """Until the FIFO at `path` has a reader (a write-only open stops failing with ENXIO),
    or STDIN_READER_WAIT has passed (a reader that came and went, its process gone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STDIN_READER_WAIT
    pause = 0.001
    while True:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
            return
        except OSError as exc:
            if exc.errno != errno.ENXIO or loop.time() >= deadline:
                return
        # No event tells when another process opens a FIFO: polled, and only in the
        # rare case that the reader is not there yet (the usual one returns above).
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)


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
        directory: str | None = None,
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

    async def end_stdin(self) -> None:
        """End of input: close our stdin end in a way that reaches the process.

        The shim opens its read end of the stdin FIFO in a goroutine started during
        Tasks.Start (and Create), which may answer before that open has happened. Our end
        is opened read-write, so writes never wait for that reader; but if our end and the
        shim's own write end (which CloseIO closes) are both gone before the shim's open,
        that open waits for a writer that never comes, and the process never sees end of
        input (`docker exec -i` hanging; rare, seen under load). So our end is swapped for
        a write-only one, which holds what is still buffered and is closed once a reader
        is there."""
        if self._stdin is not None and self.paths.stdin:
            await self._stdin.close_once_read(self.paths.stdin)

    def close(self) -> None:
        for end in (self._stdin, self._stdout, self._stderr):
            if end is not None:
                end.close()

    def remove(self) -> None:
        """Close every end and delete the FIFO files."""
        self.close()
        self.unlink()

    def unlink(self) -> None:
        """Delete the FIFO files; the open ends stay usable until closed.

        What a process wrote before it was deleted is still in its FIFOs: whoever reads
        them reads on to the end of stream, then closes.
        """
        for path in (self.paths.stdin, self.paths.stdout, self.paths.stderr):
            if path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        if self._directory is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._directory)


def _mkfifo(path: str) -> None:
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            raise


def open_fifos(paths: FifoPaths, *, owns_directory: bool = True) -> FifoSet:
    """Open existing FIFO paths (e.g. of a task found again after a restart).

    With `owns_directory`, removing the set also removes their directory once empty.
    """
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
    directory = os.path.dirname(first) if first and owns_directory else None
    return FifoSet(paths, stdin, stdout, stderr, directory)


def create_fifos(
    directory: str, process_id: str, spec: StdioSpec, *, exec_process: bool = False
) -> FifoSet:
    """Make and open the FIFOs of one process under `directory`.

    The directory is the container's: its task's set makes it and removes it once
    empty. An exec's set (`exec_process`) finds it there, as the task's own FIFOs are
    in it, so it neither tries to make it nor to remove it (both would fail, every
    exec); it makes it only if it is gone (e.g. the exec root was cleaned under a
    task found at restore).

    Paths are str (os calls, not pathlib): every task and exec makes its set (issue 13).
    """
    if not exec_process:
        make_private_dir(directory)
    names: dict[str, str] = {}
    wanted = {
        "stdin": spec.stdin,
        "stdout": spec.stdout or spec.terminal,
        # A terminal merges stderr into its one output stream.
        "stderr": spec.stderr and not spec.terminal,
    }
    for stream, want in wanted.items():
        if want:
            path = os.path.join(directory, f"{process_id}-{stream}")
            try:
                _mkfifo(path)
            except FileNotFoundError:
                if not exec_process:
                    raise
                make_private_dir(directory)
                _mkfifo(path)
            names[stream] = path
    paths = FifoPaths(
        stdin=names.get("stdin", ""),
        stdout=names.get("stdout", ""),
        stderr=names.get("stderr", ""),
        terminal=spec.terminal,
    )
    return open_fifos(paths, owns_directory=not exec_process)


def remove_fifo_dir(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)
