"""The docker CLI on a real pseudo-terminal: its stdin, stdout and stderr, as a user's."""

from __future__ import annotations

import asyncio
import os
import pty
import termios
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.support.daemon import RunningDaemon, docker_env


class CliTerminal:
    """A running CLI whose terminal the test types into and reads from."""

    def __init__(self, proc: asyncio.subprocess.Process, controller: int) -> None:
        self._proc = proc
        self._controller = controller
        self.output = bytearray()
        self._changed = asyncio.Event()
        self.closed = asyncio.Event()

    def readable(self) -> None:
        try:
            chunk = os.read(self._controller, 65536)
        except OSError:
            chunk = b""
        if chunk:
            self.output.extend(chunk)
        else:
            asyncio.get_running_loop().remove_reader(self._controller)
            self.closed.set()
        self._changed.set()

    def type(self, data: bytes) -> None:
        os.write(self._controller, data)

    async def wait_raw(self, timeout: float = 20) -> None:
        """Wait until the CLI has put its terminal in raw mode (it has attached).

        Typed before that, keys meet the terminal's own line discipline: it echoes
        them, and takes ctrl-q, ctrl-c and the like for itself."""
        async with asyncio.timeout(timeout):
            while termios.tcgetattr(self._controller)[3] & termios.ECHO:
                if self.closed.is_set():
                    raise AssertionError(f"the CLI ended: {bytes(self.output)!r}")
                await asyncio.sleep(0.02)  # a poll with a deadline: no event tells of it

    async def expect(self, text: bytes, timeout: float = 20) -> None:
        """Wait until the terminal has shown `text`."""
        async with asyncio.timeout(timeout):
            while text not in self.output:
                if self.closed.is_set():
                    raise AssertionError(f"terminal closed before {text!r}: {bytes(self.output)!r}")
                self._changed.clear()
                await self._changed.wait()

    async def exit_code(self, timeout: float = 60) -> int:
        """Wait for the CLI to exit and its terminal output to end."""
        try:
            async with asyncio.timeout(timeout):
                code = await self._proc.wait()
                await self.closed.wait()
        except TimeoutError:
            raise AssertionError(f"the CLI did not end: {bytes(self.output)!r}") from None
        return code


@asynccontextmanager
async def cli_terminal(
    daemon: RunningDaemon, *args: str, config: Path | None = None
) -> AsyncIterator[CliTerminal]:
    """Run `docker args...` on a new pty; `config` is its DOCKER_CONFIG directory.
    The CLI is killed at the end if it is still running."""
    controller, terminal = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            "docker",
            *args,
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=docker_env(daemon.host, config=config),
        )
    except BaseException:
        os.close(controller)
        raise
    finally:
        os.close(terminal)
    cli = CliTerminal(proc, controller)
    loop = asyncio.get_running_loop()
    loop.add_reader(controller, cli.readable)
    try:
        yield cli
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        loop.remove_reader(controller)
        os.close(controller)


async def docker_tty(daemon: RunningDaemon, *args: str, timeout: float = 60) -> tuple[int, bytes]:
    """Run `docker args...` on a new pty to its end: (exit code, all it showed)."""
    async with cli_terminal(daemon, *args) as cli:
        code = await cli.exit_code(timeout)
        return code, bytes(cli.output)
