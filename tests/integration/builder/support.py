"""`DOCKER_BUILDKIT=0 docker build` against a daemon, and build contexts on disk."""

from __future__ import annotations

from pathlib import Path

from tests.support.commands import run_command
from tests.support.daemon import RunningDaemon, docker_env


async def docker_build(
    daemon: RunningDaemon, context: Path, *args: str, timeout: float = 120.0
) -> tuple[int, str, str]:
    """The classic builder through the real CLI: (exit code, stdout, stderr)."""
    env = docker_env(daemon.host, config=daemon.socket.parent / "docker-config")
    env["DOCKER_BUILDKIT"] = "0"
    result = await run_command(["docker", "build", *args, str(context)], env=env, timeout=timeout)
    return result.returncode, result.stdout, result.stderr


def write_context(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return root
