"""`GET /containers/{id}/export`: a container's root filesystem as one tar stream.

Only the rootfs, as dockerd exports it: the image's layers with the container's
changes on top, without its volumes, binds or kernel filesystems. It is read
through a read-only overlay of those same directories, mounted for the length of
the export under ``<exec-root>/rootfs/``; that works whether or not the
container runs and takes no lock, so stop, start and remove never wait for a
slow client.

Entries are named as dockerd names them, relative and without a root entry
("bin/", "bin/busybox", ...): each top-level name is archived by
``containerfs.pack`` with that name as its base and the streams are joined
(without the end-of-archive blocks of each). A file linked under two top-level
directories is therefore stored twice rather than as a tar hard link.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING

from .containerfs.pack import pack
from .layers import check_usable, read_only_rootfs, rootfs_mounts
from .tario import END_OF_ARCHIVE

if TYPE_CHECKING:
    from .daemon import Daemon

_END = len(END_OF_ARCHIVE)


def _entries(root_fd: int, name: str) -> Iterator[bytes]:
    """The tar entries of one top-level name, without the blocks that end pack's archive."""
    held = b""
    try:
        for chunk in pack(root_fd, name, None, name):
            data = held + chunk
            held = data[-_END:]
            if len(data) > _END:
                yield data[:-_END]
    except FileNotFoundError:
        if held:
            raise
        # Gone before anything of it was archived (the container is running).


def rootfs_tar(root_fd: int) -> Generator[bytes, None, None]:
    """The whole tree under ``root_fd`` as a tar stream, in chunks."""
    for name in sorted(os.listdir(root_fd)):
        yield from _entries(root_fd, name)
    yield END_OF_ARCHIVE


@asynccontextmanager
async def export_container(daemon: Daemon, ref: str) -> AsyncIterator[AsyncIterator[bytes]]:
    """The export's chunks, for the length of the block; errors are raised on entry."""
    live = daemon.get(ref)
    check_usable(live, ref)
    base = daemon.config.exec_root / "rootfs"
    rootfs = await rootfs_mounts(live)
    async with read_only_rootfs(rootfs, base, live.id, f"export {live.id}") as root_fd:
        stream = rootfs_tar(root_fd)
        try:
            daemon.container_event(live, "export")
            yield _chunks(stream)
        finally:
            # Still running in a worker if the client left mid-chunk: the collector
            # closes it (and its descriptors) then; the mount goes lazily.
            with suppress(ValueError):
                await asyncio.to_thread(stream.close)


async def _chunks(stream: Iterator[bytes]) -> AsyncIterator[bytes]:
    # One worker-thread hop per chunk of about 256 KiB: the loop never waits on a disk.
    while chunk := await asyncio.to_thread(next, stream, b""):
        yield chunk
