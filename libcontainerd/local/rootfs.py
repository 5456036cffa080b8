"""A task's rootfs: the snapshot's mounts at `<bundle>/rootfs`, as containerd's shim
mounts them before `runc create` (runc expects the root mounted already).

mount(8) does the work: one process per task start and delete, and its option
parsing is the kernel's own (overlay's lowerdir, bind's rbind)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import UnknownError
from ..types import Mount


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise UnknownError(f"{' '.join(argv[:1])}: {err.decode(errors='replace').strip()}")


async def mount_rootfs(mounts: Sequence[Mount], target: Path) -> None:
    await asyncio.to_thread(target.mkdir, parents=True, exist_ok=True)
    for m in mounts:
        options = ",".join(m.options)
        if m.type == "bind":
            await _run("mount", "-o", options, m.source, str(target))
        else:
            await _run("mount", "-t", m.type, "-o", options, m.source, str(target))


async def unmount_rootfs(target: Path) -> None:
    while await asyncio.to_thread(os.path.ismount, target):
        await _run("umount", str(target))
