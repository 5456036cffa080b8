"""`DOCKER_BUILDKIT=0 docker build` against a daemon."""

from __future__ import annotations

from pathlib import Path

from tests.support.commands import run_command
from tests.support.daemon import docker_env


async def docker_build(
    host: str,
    config: Path,
    context: Path,
    *args: str,
    timeout: float = 180.0,
    api_version: str | None = None,
) -> tuple[int, str, str]:
    """The classic builder through the real CLI: (exit code, stdout, stderr)."""
    env = docker_env(host, config=config, api_version=api_version)
    env["DOCKER_BUILDKIT"] = "0"
    result = await run_command(["docker", "build", *args, str(context)], env=env, timeout=timeout)
    return result.returncode, result.stdout, result.stderr
