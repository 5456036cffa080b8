"""`docker cp`: stat a path of a container, archive it as tar, or unpack a tar into it.

Which filesystem. A running (or paused) container is looked into through
``/proc/<pid>/root``: its own mount namespace, with its volumes, binds and
tmpfs, and nothing to mount on our side. A container without a task has its
rootfs mounts (what the snapshotter gave for it) mounted on a private
directory under ``<exec-root>/rootfs/`` for the length of one operation, and
unmounted after.

Locking. That mount is made, used and unmounted while the container's API lock
(``LiveContainer.lock``) is held, so ``start`` and ``remove``, which take it,
wait for the copy to end: start cannot mount the same overlay upper directory
a second time, and remove cannot delete the snapshot under a mount (dockerd
also holds its container lock for a whole copy, download included). A running
container's copy takes no lock: stop and kill must not wait for a slow client.
A container being removed answers 409.

Paths are resolved inside the container's root as if chrooted and no symlink
is ever followed by the kernel (see ``containerfs``). All file work runs in
worker threads; a download moves one chunk per hop, so the event loop never
waits on a disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from stat import S_ISLNK
from typing import TYPE_CHECKING, Protocol, TypeVar

from . import errors
from .container.live import LiveContainer
from .container.model import Status
from .containerfs import scope
from .containerfs.mounts import mount_in_private_dir, unmount_private_dir
from .containerfs.pack import pack
from .containerfs.pathstat import PathStat
from .containerfs.unpack import ArchiveError, ExtractOptions, extract
from .layers import check_usable, rootfs_mounts
from .oci.errors import SpecError
from .oci.users import resolve_user
from .volumes.mounts import bind_volumes, mounts_of, unbind_volumes

if TYPE_CHECKING:
    from .daemon import Daemon

_BODY_READ_SIZE = 1024 * 1024
_T = TypeVar("_T")


class ByteSource(Protocol):
    """An async byte stream: ``read(n)`` gives up to n bytes, b"" at the end."""

    async def read(self, n: int = -1) -> bytes: ...


# -- the container's root -----------------------------------------------------------------


def _open_task_root(live: LiveContainer) -> int | None:
    """The root of the running task's mount namespace, or None if there is no task."""
    state = live.model.state
    pid = state.pid
    if state.status not in (Status.RUNNING, Status.PAUSED) or pid <= 0:
        return None
    try:
        fd = os.open(f"/proc/{pid}/root", scope.DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError:
        return None  # the task just exited; its exit event is on its way
    # The pid could have been reaped between the check and the open.
    if live.model.state.pid != pid or not live.model.state.running:
        os.close(fd)
        return None
    return fd


@asynccontextmanager
async def _mounted_rootfs(daemon: Daemon, live: LiveContainer) -> AsyncIterator[int]:
    mounts = await rootfs_mounts(live)
    base = daemon.config.exec_root / "rootfs"
    try:
        target = await asyncio.to_thread(mount_in_private_dir, mounts, base, f"{live.id[:12]}-")
    except OSError as exc:
        raise errors.SystemError(f"cannot mount the rootfs of {live.id}: {exc}") from None
    try:
        fd = os.open(target, scope.DIR_FLAGS)
        try:
            # Its volumes too, as in the container: a path in one is the volume's.
            volumes = mounts_of(live.model.volume_mounts)
            binds = await asyncio.to_thread(bind_volumes, fd, volumes)
            try:
                yield fd
            finally:
                await asyncio.to_thread(unbind_volumes, binds)
        finally:
            os.close(fd)
    finally:
        await asyncio.to_thread(unmount_private_dir, target)


@asynccontextmanager
async def _container_root(daemon: Daemon, live: LiveContainer, ref: str) -> AsyncIterator[int]:
    """A descriptor of the container's root directory, for the length of the block."""
    check_usable(live, ref)
    fd = _open_task_root(live)
    if fd is None:
        async with live.lock:
            check_usable(live, ref)
            fd = _open_task_root(live)  # it may have been started while we waited
            if fd is None:
                if live.model.state.running:
                    raise errors.Conflict(f"container {live.id} is changing state, try again")
                async with _mounted_rootfs(daemon, live) as root_fd:
                    yield root_fd
                return
    try:
        yield fd
    finally:
        os.close(fd)


def _emit(daemon: Daemon, live: LiveContainer, action: str) -> None:
    # dockerd's container events for a copy; the daemon's own helper adds the usual
    # attributes (image, name, labels).
    daemon.container_event(live, action)


# -- errors --------------------------------------------------------------------------------


def _fs_error(exc: OSError, ref: str, path: str) -> errors.DaemonError:
    if exc.errno == errno.ENOENT:
        return errors.NotFound(f"Could not find the file {path} in container {ref}")
    where = exc.filename if isinstance(exc.filename, str) else path
    if exc.errno == errno.ENOTDIR:
        return errors.InvalidParameter(f"lstat {where}: not a directory")
    if exc.errno == errno.ELOOP:
        return errors.SystemError(f"EvalSymlinks: too many links in {path}")
    return errors.SystemError(f"{where}: {exc.strerror or exc}")


# -- stat and archive ---------------------------------------------------------------------


def _locate_and_stat(root_fd: int, path: str) -> tuple[scope.Location, PathStat]:
    """dockerd's ResolvePath + StatPath: the last element is not followed unless the path
    ends in "/" or "/."; a symlink's linkTarget is where it leads, in the container."""
    absolute = scope.abs_path(path)
    wants_dir = scope.names_dir(absolute)
    location = scope.locate(root_fd, absolute, follow_last=wants_dir)
    try:
        st = location.lstat()
        if wants_dir and location.dir_fd is None:
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), location.path)
        link_target = ""
        if location.dir_fd is None and S_ISLNK(st.st_mode):
            link_target = scope.scoped_path(root_fd, absolute)
        return location, PathStat.from_stat(scope.go_base(absolute), st, link_target)
    except BaseException:
        location.close()
        raise


async def _locate_and_stat_async(
    root_fd: int, ref: str, path: str
) -> tuple[scope.Location, PathStat]:
    """`_locate_and_stat` in a worker thread, with its OSError as the API's error."""
    try:
        return await asyncio.to_thread(_locate_and_stat, root_fd, path)
    except OSError as exc:
        raise _fs_error(exc, ref, path) from None


async def stat_path(daemon: Daemon, ref: str, path: str) -> PathStat:
    """`HEAD /containers/{id}/archive`: what is at ``path``."""
    live = daemon.get(ref)
    async with _container_root(daemon, live, ref) as root_fd:
        location, result = await _locate_and_stat_async(root_fd, ref, path)
        location.close()
    return result


@dataclass
class PathArchive:
    """A path being archived: its stat (for the reply's header) and the tar stream."""

    stat: PathStat
    _chunks: Iterator[bytes]

    async def chunks(self) -> AsyncIterator[bytes]:
        # One worker-thread hop per chunk of about 256 KiB.
        while chunk := await asyncio.to_thread(next, self._chunks, b""):
            yield chunk


@asynccontextmanager
async def archive_path(daemon: Daemon, ref: str, path: str) -> AsyncIterator[PathArchive]:
    """`GET /containers/{id}/archive`: the stat of ``path`` and its tar stream.

    Errors about the path are raised on entry, before any byte is produced.
    """
    live = daemon.get(ref)
    async with _container_root(daemon, live, ref) as root_fd:
        location, result = await _locate_and_stat_async(root_fd, ref, path)
        # The archive is named after the path asked for, not after where a link led.
        stream = pack(location.parent_fd, location.name, location.dir_fd, result.name)
        try:
            _emit(daemon, live, "archive-path")
            yield PathArchive(result, stream)
        finally:
            await asyncio.to_thread(stream.close)
            location.close()


# -- extract ------------------------------------------------------------------------------


class _BlockingBody:
    """The request body as a blocking file for a worker thread; each read waits on the loop."""

    def __init__(self, body: ByteSource, loop: asyncio.AbstractEventLoop) -> None:
        self._body = body
        self._loop = loop
        self._pending = b""
        self._eof = False

    def _next_chunk(self) -> bytes:
        future = asyncio.run_coroutine_threadsafe(self._body.read(_BODY_READ_SIZE), self._loop)
        while True:
            try:
                return future.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                # A slow client is fine; a loop that stopped will never answer.
                if self._loop.is_closed() or not self._loop.is_running():
                    future.cancel()
                    raise ConnectionAbortedError("the daemon is shutting down") from None

    def read(self, size: int = -1, /) -> bytes:
        if not self._pending and not self._eof:
            self._pending = self._next_chunk()
            self._eof = not self._pending
        if size < 0 or size >= len(self._pending):
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:size], self._pending[size:]
        return data


async def _in_own_thread(func: Callable[[], _T]) -> _T:
    """Run ``func`` on a thread of its own.

    An extraction waits on the client for as long as the upload lasts; on the
    default executor a few slow uploads would hold all of its few workers and
    stall every other ``to_thread`` of the daemon.
    """
    future: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(func())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="moorage-cp-extract", daemon=True).start()
    return await asyncio.wrap_future(future)


def _volume_destinations(live: LiveContainer) -> list[tuple[str, bool]]:
    """(destination, read-only) of the container's volumes and binds."""
    found: list[tuple[str, bool]] = []
    host_config = live.model.host_config
    for bind in host_config.get("Binds") or ():
        parts = str(bind).split(":")
        if len(parts) >= 2:
            found.append((parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    for mount in host_config.get("Mounts") or ():
        if isinstance(mount, dict) and mount.get("Target"):
            found.append((str(mount["Target"]), bool(mount.get("ReadOnly"))))
    for destination in live.model.config.get("Volumes") or {}:
        found.append((str(destination), False))
    return found


def _check_writable(live: LiveContainer, container_path: str) -> None:
    """dockerd's rule: a path in a volume follows the volume; else the rootfs must be rw."""
    for destination, read_only in _volume_destinations(live):
        inside = destination.rstrip("/") or "/"
        if container_path == inside or container_path.startswith(inside.rstrip("/") + "/"):
            if read_only:
                raise errors.Forbidden("mounted volume is marked read-only")
            return
    if live.model.host_config.get("ReadonlyRootfs"):
        raise errors.Forbidden("container rootfs is marked read-only")


def _owner(root_fd: int, live: LiveContainer) -> tuple[int, int] | None:
    """copyUIDGID: the container's user, as its own /etc/passwd and /etc/group name it."""
    user = str(live.model.config.get("User") or "")
    if not user:
        return None
    try:
        found = resolve_user(user, (), lambda p: scope.read_file(root_fd, p))
    except SpecError as exc:
        raise errors.SystemError(str(exc)) from None
    return int(found["uid"]), int(found["gid"])


def _extraction_dir(root_fd: int, path: str) -> str:
    """dockerd resolves every element, the last too: a symlink to a directory is fine."""
    with scope.locate(root_fd, scope.abs_path(path), follow_last=True) as location:
        if location.dir_fd is None:
            raise errors.InvalidParameter("extraction point is not a directory")
        return location.path


async def extract_to_dir(
    daemon: Daemon,
    ref: str,
    path: str,
    body: ByteSource,
    *,
    no_overwrite_dir_non_dir: bool = False,
    copy_uid_gid: bool = False,
) -> None:
    """`PUT /containers/{id}/archive`: unpack the tar in ``body`` into directory ``path``."""
    live = daemon.get(ref)
    loop = asyncio.get_running_loop()
    async with _container_root(daemon, live, ref) as root_fd:
        try:
            dest = await asyncio.to_thread(_extraction_dir, root_fd, path)
        except OSError as exc:
            raise _fs_error(exc, ref, path) from None
        _check_writable(live, dest)
        owner = await asyncio.to_thread(_owner, root_fd, live) if copy_uid_gid else None
        options = ExtractOptions(no_overwrite_dir_non_dir, owner)
        try:
            source = _BlockingBody(body, loop)
            await _in_own_thread(lambda: extract(root_fd, dest, source, options))
        except ArchiveError as exc:
            raise errors.InvalidParameter(str(exc)) from None
        except ConnectionError:
            raise  # the body broke off (the client left or stalled): no filesystem error
        except OSError as exc:
            raise _fs_error_in_extract(exc) from None
    _emit(daemon, live, "extract-to-dir")


def _fs_error_in_extract(exc: OSError) -> errors.DaemonError:
    where = f"{exc.filename}: " if isinstance(exc.filename, str) else ""
    return errors.SystemError(f"{where}{exc.strerror or exc}")
