"""The OCI runtime binary (runc, or one with its command line) and the monitors that start
processes through it. Every command run is counted, as `remote/` counts its RPCs."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConflictError, LibcontainerdError, NotFoundError, UnknownError
from .monitor import write_config

MONITOR = Path(__file__).with_name("monitor.py")
MONITOR_CONFIG = "monitor.conf"
DEFAULT_BINARY = "runc"


def _error(command: str, container_id: str, message: str) -> LibcontainerdError:
    text = f"{command} {container_id}: {message}".strip()
    lowered = message.lower()
    if "does not exist" in lowered or "not found" in lowered or "no such" in lowered:
        return NotFoundError(text, container_id)
    if "not running" in lowered or "is paused" in lowered or "not paused" in lowered:
        return ConflictError(text, container_id)
    return UnknownError(text, container_id)


class Runtime:
    """One runtime binary with its state dir (`--root`)."""

    def __init__(self, binary: str, root: Path, counts: Counter[str]) -> None:
        self.binary = binary or DEFAULT_BINARY
        self.root = root
        self._counts = counts

    async def run(self, *args: str, container_id: str = "", stdin: bytes | None = None) -> bytes:
        """`<binary> --root <root> args...`; its stdout, or a typed error."""
        self._counts[f"runc.{args[0]}"] += 1
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        proc = await asyncio.create_subprocess_exec(
            self.binary,
            "--root",
            str(self.root),
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin)
        if proc.returncode != 0:
            message = err.decode(errors="replace").strip().splitlines()
            raise _error(args[0], container_id, message[-1] if message else "")
        return out

    async def state(self, container_id: str) -> Mapping[str, Any] | None:
        try:
            out = await self.run("state", container_id, container_id=container_id)
        except NotFoundError:
            return None
        parsed: Mapping[str, Any] = json.loads(out)
        return parsed

    async def monitor(self, config: Mapping[str, str], directory: Path) -> tuple[int, int]:
        """Starts a monitor (see monitor.py) that creates or execs a process: the process's
        pid and the monitor's."""
        self._counts[f"runc.{config['mode']}"] += 1
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / MONITOR_CONFIG
        write_config(str(path), {**config, "runtime": self.binary, "root": str(self.root)})
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-S",
            str(MONITOR),
            str(path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        kind, _, rest = out.decode(errors="replace").partition(" ")
        if kind == "error":
            if config["mode"] == "exec":
                # containerd's words for a process runc would not exec, which dockerd passes on.
                raise UnknownError(
                    f"OCI runtime exec failed: {rest.strip()}: unknown", config["id"]
                )
            raise _error(config["mode"], config["id"], rest)
        if kind != "pid":
            raise UnknownError(
                f"monitor of {config['id']} failed: {err.decode(errors='replace').strip()}",
                config["id"],
            )
        pid, monitor = rest.split()
        return int(pid), int(monitor)
