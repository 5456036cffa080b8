"""The daemon's PID file (dockerd's --pidfile): written at start, removed at exit; a file
naming a process that still runs refuses the start, as another daemon may be running."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


class PidFileError(ValueError):
    pass


def _alive(pid: int) -> bool:
    return pid > 0 and pid != os.getpid() and Path(f"/proc/{pid}").exists()


class PidFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._written = False

    def write(self) -> None:
        try:
            recorded = int(self.path.read_text().strip())
        except (FileNotFoundError, ValueError):
            recorded = 0  # none, or not a PID: replaced
        if _alive(recorded):
            raise PidFileError(
                f"pid file found, ensure moorage is not running or delete {self.path}"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.write_text(f"{os.getpid()}")
        os.replace(temporary, self.path)
        self._written = True

    def remove(self) -> None:
        """Removed only if it still names this process (a later daemon may own it now)."""
        if not self._written:
            return
        with contextlib.suppress(OSError, ValueError):
            if int(self.path.read_text().strip()) == os.getpid():
                self.path.unlink()
        self._written = False
