"""`GET /containers/{id}/changes` (`docker diff`): a container's changes to its image's files.

Read from the container's upper directory and the image's layers on disk, so
running and stopped containers alike need no mount and no lock (see
``containerfs/changes.py`` for how each entry is judged).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from . import errors
from .containerfs.changes import Change, upper_changes
from .layers import check_usable, rootfs_layers

if TYPE_CHECKING:
    from .daemon import Daemon


async def container_changes(daemon: Daemon, ref: str) -> list[Change]:
    live = daemon.get(ref)
    check_usable(live, ref)
    layers = await rootfs_layers(live)
    try:
        return await asyncio.to_thread(upper_changes, layers)
    except OSError as exc:
        check_usable(live, ref)  # removed meanwhile: say so rather than what broke
        raise errors.SystemError(f"cannot read the changes of {live.id}: {exc}") from None
