"""The syscall probe (probe/syscall_probe.c), built static for bind-mounting into containers."""

from __future__ import annotations

import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("probe") / "syscall_probe.c"


def build_probe(directory: Path) -> Path:
    """Compile the probe into `directory`; its path. Static, so any image can run it."""
    binary = directory / "syscall-probe"
    subprocess.run(
        ["gcc", "-static", "-O1", "-o", str(binary), str(SOURCE)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return binary
