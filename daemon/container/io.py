"""A container's stdio as the daemon routes it: FIFOs in, log driver and attached clients out.

One copier per output stream reads the FIFO and hands every chunk to the log
driver and to each attached client, so output is read once however many
clients watch. Clients may attach before the task exists (`docker run` attaches
before it starts the container); they then see the next run from its first byte
and are told when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from libcontainerd import errors as lcd_errors
from libcontainerd.flag import Flag
from libcontainerd.types import Stdio

from ..background import BackgroundTasks

log = logging.getLogger(__name__)

STDOUT = "stdout"
STDERR = "stderr"
# How long an exit waits for the last output to be copied before it is reported anyway.
OUTPUT_DRAIN_TIMEOUT = 5.0
# Bounded so that a client that stops reading cannot grow the daemon without limit.
_CLIENT_QUEUE = 1024


class Readable(Protocol):
    async def read(self) -> bytes: ...


class LogSink(Protocol):
    def write(self, stream: str, data: bytes) -> None: ...

    def close(self) -> None: ...


class StdinTarget(Protocol):
    async def write(self, data: bytes) -> None: ...


Chunk = tuple[str, bytes]


@dataclass(eq=False)
class Attachment:
    """One attached client's view: output chunks in order, then None at the run's end."""

    stdout: bool
    stderr: bool
    queue: asyncio.Queue[Chunk | None] = field(default_factory=lambda: asyncio.Queue(_CLIENT_QUEUE))
    dropped: bool = False

    def offer(self, item: Chunk | None) -> None:
        if self.dropped:
            return
        if item is not None and not (self.stdout if item[0] == STDOUT else self.stderr):
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # A client that does not read is cut off rather than slowing the container.
            self.dropped = True
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)

    async def next(self) -> Chunk | None:
        return await self.queue.get()


class StdioHub:
    """The per-container switchboard between the current run's FIFOs and clients."""

    def __init__(self) -> None:
        self._clients: set[Attachment] = set()
        # Where input goes once the run's process has started (see open_stdin).
        self._stdin: StdinTarget | None = None
        self._stdin_closer: Callable[[], Awaitable[None]] | None = None
        # The run's stdin until then.
        self._run_stdin: StdinTarget | None = None
        self._run_closer: Callable[[], Awaitable[None]] | None = None
        self._pending_stdin: list[bytes] = []
        self._stdin_closed = False
        self._done = Flag(is_set=True)  # no run yet
        self._background = BackgroundTasks()
        self._stdio: Stdio | None = None
        self.sink: LogSink | None = None

    # -- clients ----------------------------------------------------------------------

    def attach(self, stdout: bool = True, stderr: bool = True) -> Attachment:
        attachment = Attachment(stdout, stderr)
        self._clients.add(attachment)
        return attachment

    def detach(self, attachment: Attachment) -> None:
        self._clients.discard(attachment)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def broadcast(self, stream: str, data: bytes) -> None:
        """Hand every client a message of the daemon's own (e.g. why an exec failed)."""
        for client in list(self._clients):
            client.offer((stream, data))

    async def write_stdin(self, data: bytes) -> None:
        if self._stdin is None:
            self._pending_stdin.append(data)
            return
        await self._stdin.write(data)

    async def close_stdin(self) -> None:
        """EOF for the process's stdin; before the run exists, it is applied at its start."""
        if self._stdin_closer is None:
            self._stdin_closed = True
            return
        closer, self._stdin_closer = self._stdin_closer, None
        try:
            await closer()
        except lcd_errors.NotFoundError:
            pass  # the process is gone already: nothing waits for its input
        except (lcd_errors.LibcontainerdError, OSError) as exc:
            # No client can act on it, but the process may now wait for input for ever:
            # said, not lost in the stdin copier that asked.
            log.warning("closing the process's stdin failed: %s", exc)

    # -- runs ---------------------------------------------------------------------------

    def start_run(
        self,
        stdio: Stdio,
        sink: LogSink | None,
        close_stdin: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Begin copying a new run's output; called once its FIFOs are open.

        From here the hub owns `stdio`: it closes it once every output stream has
        ended, or at once on `end_run()`.
        """
        self._done.clear()
        self._stdio = stdio
        self.sink = sink
        self._stdin = self._stdin_closer = None
        self._run_stdin, self._run_closer = stdio.stdin, close_stdin
        outputs = stdio_outputs(stdio)
        left = len(outputs)

        # The run ends when its last copier does: counted down by their done callbacks
        # rather than by a task gathering them (a task, and a gather, per run: issue 13).
        def copied(_: asyncio.Task[None]) -> None:
            nonlocal left
            left -= 1
            if left == 0:
                self._finish_run(stdio)

        for name, stream in outputs.items():
            self._background.spawn(self._copy(name, stream, sink)).add_done_callback(copied)
        if not outputs:
            asyncio.get_running_loop().call_soon(self._finish_run, stdio)

    def open_stdin(self) -> None:
        """The run's process has started: input flows, what came before it first.

        Not before: an end of input (CloseIO) that reaches the shim before the process
        starts is lost, and the process would then wait for input for ever.
        """
        stdin, closer = self._run_stdin, self._run_closer
        if stdin is None:
            self._pending_stdin.clear()
            self._stdin_closed = False
            return
        self._background.spawn(self._flush_pending(stdin, closer))

    async def _flush_pending(
        self, stdin: StdinTarget, closer: Callable[[], Awaitable[None]] | None
    ) -> None:
        with contextlib.suppress(OSError):
            while self._pending_stdin:
                await stdin.write(self._pending_stdin.pop(0))
        if self._run_stdin is not stdin:
            return  # the run ended meanwhile
        # Nothing is pending: from here input goes straight to the FIFO, in order.
        self._stdin, self._stdin_closer = stdin, closer
        if self._stdin_closed:
            self._stdin_closed = False
            await self.close_stdin()

    async def _copy(self, name: str, stream: Readable, sink: LogSink | None) -> None:
        try:
            while chunk := await stream.read():
                if sink is not None:
                    try:
                        sink.write(name, chunk)
                    except OSError as exc:
                        log.error("log driver failed: %s", exc)
                for client in list(self._clients):
                    client.offer((name, chunk))
        except OSError as exc:
            log.warning("reading %s failed: %s", name, exc)

    def _finish_run(self, stdio: Stdio) -> None:
        # Every output has ended: the run's FIFO ends (stdin too) are of no more use.
        stdio.close()
        self._stdio = None
        self._stdin = self._stdin_closer = self._run_stdin = self._run_closer = None
        if self.sink is not None:
            self.sink.close()
        for client in list(self._clients):
            client.offer(None)
        self._done.set()

    def end_run(self) -> None:
        """End the current run now (its start failed, or its output outlived it).

        Closing its stdio ends every copier with end of stream, and the clients are
        then told as at any run's end; without a run, they are told at once.
        """
        if self._stdio is not None:
            self._stdio.close()
        elif not self.running:
            for client in list(self._clients):
                client.offer(None)

    async def drain(self, timeout: float = OUTPUT_DRAIN_TIMEOUT) -> None:
        """Wait until the current run's output has all been handed out; after `timeout`
        (a process that left a child holding its output open), end the run."""
        if self._done.is_set():
            return  # the usual case at an exit: no timeout to arm (issue 13)
        try:
            async with asyncio.timeout(timeout):
                await self._done.wait()
        except TimeoutError:
            log.info("output still open %.0fs after the exit: closing it", timeout)
            self.end_run()
            await self._done.wait()

    async def close(self) -> None:
        """The daemon stops: end the run (its process may well go on without us) and
        wait until its copiers are gone, so that none of its fds or tasks outlive us."""
        self.end_run()
        await self._done.wait()
        await self._background.wait()

    @property
    def running(self) -> bool:
        return not self._done.is_set()


def stdio_outputs(stdio: Stdio) -> dict[str, Readable]:
    """The output streams a process's stdio has (a TTY has no stderr)."""
    outputs: dict[str, Readable] = {}
    if stdio.stdout is not None:
        outputs[STDOUT] = stdio.stdout
    if stdio.stderr is not None:
        outputs[STDERR] = stdio.stderr
    return outputs
