"""The stdio hub's input side: what a client sends before the process runs, and its end."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from daemon.container.io import StdioHub


@dataclass
class FakeStdin:
    written: list[bytes] = field(default_factory=list)

    async def write(self, data: bytes) -> None:
        self.written.append(data)


class FakeOutput:
    def __init__(self) -> None:
        self.ended = asyncio.Event()

    async def read(self) -> bytes:
        await self.ended.wait()
        return b""


@dataclass
class FakeStdio:
    stdin: FakeStdin | None
    stdout: FakeOutput
    stderr: FakeOutput | None = None
    terminal: bool = False

    def close(self) -> None:
        self.stdout.ended.set()


async def test_input_and_its_end_wait_for_the_process_to_start() -> None:
    hub = StdioHub()
    stdio = FakeStdio(FakeStdin(), FakeOutput())
    closes: list[list[bytes]] = []

    async def close_stdin() -> None:
        assert stdio.stdin is not None
        closes.append(list(stdio.stdin.written))

    hub.start_run(stdio, None, close_stdin)  # type: ignore[arg-type]
    await hub.write_stdin(b"one\n")
    await hub.close_stdin()
    await asyncio.sleep(0)  # let anything spawned run: nothing may reach the process yet
    assert stdio.stdin is not None and stdio.stdin.written == [] and closes == []

    hub.open_stdin()  # Tasks.Start has answered
    async with asyncio.timeout(5):
        while not closes:  # noqa: ASYNC110
            await asyncio.sleep(0)
    # The input went first, then its end, exactly once.
    assert closes == [[b"one\n"]]
    await hub.write_stdin(b"late\n")
    assert stdio.stdin.written == [b"one\n", b"late\n"]
    stdio.close()
    await hub.close()


async def test_input_written_while_pending_input_flushes_keeps_its_order() -> None:
    hub = StdioHub()
    stdio = FakeStdio(FakeStdin(), FakeOutput())
    hub.start_run(stdio, None, None)  # type: ignore[arg-type]
    for n in range(3):
        await hub.write_stdin(f"{n}".encode())
    hub.open_stdin()
    await hub.write_stdin(b"3")  # while the pending input is still being written
    await hub.write_stdin(b"4")
    async with asyncio.timeout(5):
        while stdio.stdin is not None and len(stdio.stdin.written) < 5:  # noqa: ASYNC110
            await asyncio.sleep(0)
    assert stdio.stdin is not None and stdio.stdin.written == [b"0", b"1", b"2", b"3", b"4"]
    stdio.close()
    await hub.close()
