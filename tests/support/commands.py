"""Running a command for a test: its exit code and output, never left running past its time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

COMMAND_TIMEOUT = 60.0


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


async def run_command(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> Result:
    """`argv` with `stdin` as its input (none: /dev/null); killed after `timeout`, which
    is then raised as TimeoutError."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(stdin)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return Result(proc.returncode or 0, out.decode(), err.decode())
