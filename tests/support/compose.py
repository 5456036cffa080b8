"""Debian's docker-compose 1.29.2 (installed by scripts/setup.sh), run for a test against a
daemon's socket, on one project file under one project name."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from tests.support.commands import COMMAND_TIMEOUT, Result, run_command

EXAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "examples" / "compose"


@dataclass(frozen=True)
class Compose:
    """`docker-compose -p name -f file` with the docker CLI environment `env`."""

    file: Path
    name: str
    env: dict[str, str]

    def argv(self, *args: str) -> list[str]:
        return ["docker-compose", "-p", self.name, "-f", str(self.file), *args]

    def _env(self) -> dict[str, str]:
        return {**self.env, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    async def run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> Result:
        return await run_command(self.argv(*args), env=self._env(), timeout=timeout)

    async def ok(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> Result:
        """`run` that must exit 0."""
        result = await self.run(*args, timeout=timeout)
        assert result.returncode == 0, f"docker-compose {' '.join(args)}: {result.stderr}"
        return result

    async def spawn(self, *args: str) -> asyncio.subprocess.Process:
        """A long-running command (`logs -f`), stdout piped, stderr with it; the caller
        owns the process and must wait for it or kill it."""
        return await asyncio.create_subprocess_exec(
            *self.argv(*args),
            env=self._env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
