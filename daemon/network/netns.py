"""Network namespaces the daemon makes for containers, as files under
<exec-root>/netns/<container-id>.

A namespace is made by unshare(CLONE_NEWNET) in a thread of its own, which
bind-mounts its /proc/self/task/<tid>/ns/net onto the file; the file keeps the
namespace alive until it is unmounted, and runc joins it by the path in the OCI
spec. A thread that changed namespace is never reused: such work runs in a new
thread (`run_in_own_thread`) that ends right after, so neither the loop's thread nor
a pool thread ever leaves the daemon's own namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 0x2
_EINVAL, _ENOENT = 22, 2

# The process's own symbols, libc's among them (as libcontainerd/local/monitor.py):
# ctypes.util.find_library runs `ldconfig -p` (or gcc) at every daemon start.
_libc = ctypes.CDLL(None, use_errno=True)
_T = TypeVar("_T")


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


async def run_in_own_thread(work: Callable[[], _T]) -> _T:
    """Run blocking `work` in a new thread that ends with it (for namespace changes)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[_T] = loop.create_future()

    def deliver(result: _T | None, failure: BaseException | None) -> None:
        if done.cancelled():
            return
        if failure is not None:
            done.set_exception(failure)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:
            loop.call_soon_threadsafe(deliver, None, exc)
        else:
            loop.call_soon_threadsafe(deliver, result, None)

    threading.Thread(target=run, name="moorage-netns", daemon=True).start()
    # Shielded: a cancelled caller must not leave the work's result (links made) unseen.
    return await asyncio.shield(done)


def unshare_and_bind(path: Path) -> None:
    """Move the calling thread into a new network namespace and bind it at `path`."""
    _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
    source = f"/proc/self/task/{threading.get_native_id()}/ns/net"
    try:
        _check(
            _libc.mount(source.encode(), os.fsencode(path), b"none", MS_BIND, None),
            f"bind mount of the network namespace at {path}",
        )
    except BaseException:
        os.unlink(path)
        raise


def enter(path: Path) -> None:
    """Move the calling thread into the namespace bound at `path`."""
    fd = os.open(path, os.O_RDONLY)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns({path})")
    finally:
        os.close(fd)


def remove(path: str | Path) -> None:
    """Unbind and delete the namespace file; the kernel destroys the namespace (and the
    veth ends in it) once no process is left inside. Missing is fine. Blocking."""
    if _libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
        errno = ctypes.get_errno()
        if errno not in (_EINVAL, _ENOENT):  # not mounted, or not there
            raise OSError(errno, f"umount {path}: {os.strerror(errno)}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
