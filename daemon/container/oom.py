"""Whether the kernel OOM-killed a process of a container's cgroup.

The shim watches for OOM events only once the task has started, so a process that
runs out of memory at once can die before anyone listens. The memory cgroup keeps
the count until the task is deleted, so an exit by SIGKILL is checked against it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from ..smallfile import read_text

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _count(path: str, key: str) -> int:
    try:
        text = read_text(path)
    except OSError:
        return 0
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def oom_killed(cgroups_path: str, root: str | Path = CGROUP_ROOT) -> bool:
    # os.path on strings: every `docker kill` (exit 137) comes here (issue 13).
    relative = cgroups_path.lstrip("/")
    if not relative:
        return False
    base = os.fspath(root)
    if _unified(base):
        return _count(os.path.join(base, relative, "memory.events"), "oom_kill") > 0
    return _count(os.path.join(base, "memory", relative, "memory.oom_control"), "oom_kill") > 0


@functools.cache
def _unified(base: str) -> bool:
    """Whether the cgroup tree at `base` is cgroup v2: looked at once per root (the host's
    cgroup mounts do not change under a running daemon)."""
    return os.path.exists(os.path.join(base, "cgroup.controllers"))
