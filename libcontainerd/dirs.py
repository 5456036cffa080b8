"""Directories the daemon's own files live in (a task's FIFOs, a container's state)."""

from __future__ import annotations

import os


def make_private_dir(directory: str) -> None:
    """`directory` (0700) and its missing parents; one that exists is fine.

    One mkdir in the usual case: os.makedirs stats the parent first, and both a
    container's directory and its FIFO directory are made once per lifecycle (issue 13).
    """
    try:
        os.mkdir(directory, 0o700)
    except OSError:  # there already (a directory?), or a parent missing
        os.makedirs(directory, 0o700, exist_ok=True)
