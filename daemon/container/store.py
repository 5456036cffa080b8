"""All containers by id and by name, persisted one JSON file per container.

Each write goes to a temp file that is fsynced and then swapped with (or renamed over)
the old one, so a crash leaves either the old or the new state on disk, never half of
one (`docker rm`'s `removing` is synced after its swap: see DeferredSync).

A container exists exactly when its directory holds its state file: its first write
(made durable with its directory entries while create's RPCs are in flight) makes it
exist, its unlink is the commit of a removal. A directory without one is what a crash
left of either, and is swept at load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from libcontainerd import jsonbytes

from ..errors import InvalidParameter, NotFound
from ..exchange import exchange
from .model import Container, Status

log = logging.getLogger(__name__)
STATE_FILE = "container.json"


def fsync_dir(path: str | Path) -> None:
    """Make the entries of `path` (a new or removed name in it) survive a power loss."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: bytes, *, swap: bool = False) -> None:
    """`data` in a synced temp file (.NAME.tmp), then renamed over `path`; with `swap`
    (a container's state file: 5 writes a lifecycle), swapped with `path` instead and
    kept: from the third write on the file costs no new inode. A new inode scans past
    every recently freed one on ext4 without a journal (issue 13's perf profile of the
    lifecycle: find_inode_bit/recently_deleted), a cost that grows with the churn of the
    whole filesystem. A crash still leaves the old or the new file whole at `path`, the
    only name read: the temp file is synced before the swap."""
    # os calls on a str path, not pathlib and a buffered file: a lifecycle writes the
    # state file 5 times (issue 13).
    tmp = _tmp_path(path)
    fd = _write_tmp(tmp, data)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if not (swap and exchange(tmp, path)):  # no file at `path` yet: renamed
        os.replace(tmp, path)


def _tmp_path(path: str | Path) -> str:
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.tmp")


def _write_tmp(tmp: str, data: bytes) -> int:
    """`data` written to `tmp` (made, or overwritten in place and cut to its length); its
    fd, open (the caller closes it). Not O_TRUNC: emptying the kept temp file frees its
    blocks, and ext4 without a journal mounted with `discard` (this machine's) discards
    them at once, synchronously: 0.3-0.5 ms of `docker rm`'s 0.1 ms save under load
    (issue 13). Its old bytes are never read: a synced write is synced before it is
    renamed into place, and a deferred one is swapped (`ContainerStore.save`)."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
    except BaseException:
        os.close(fd)
        raise
    return fd


class DeferredSync:
    """State files written and swapped into place at once, made durable by `run` later
    (fsync of each and of its directory): a removal runs it while its first RPC is in
    flight, and answers after. A daemon killed meanwhile finds the new file (the page
    cache outlives the process). A power loss before `run` returns concerns an operation
    whose answer was never sent: it may leave the old file, or the new name on a file
    whose bytes did not reach the disk; the swap keeps the old file whole under the temp
    name, and load reads that one when the state file does not decode (`_read`). The fds
    are opened at once, so the files may go before `run`."""

    def __init__(self) -> None:
        self._fds: list[int] = []

    def add(self, fd: int, directory: str) -> None:
        """Own `fd` (a written file) and an fd of its `directory`."""
        self._fds.append(fd)
        self._fds.append(os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))

    def run(self) -> None:
        fds, self._fds = self._fds, []
        try:
            for fd in fds:
                os.fsync(fd)
        finally:
            for fd in fds:
                os.close(fd)

    def close(self) -> None:
        """Let the files go unsynced (what was saved failed: there is no answer to wait)."""
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)


def encode_state(container: Container) -> bytes:
    """The state file's bytes (libcontainerd.jsonbytes: a lifecycle saves 5 times, issue 13)."""
    return jsonbytes.dumps(container.as_json())


def erase(directory: str) -> None:
    """A removed container's files: the state file first (the removal's commit), so a
    crash in the middle of the rest leaves a directory that load sweeps, never a
    container with half its files."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(directory, STATE_FILE))
    shutil.rmtree(directory, ignore_errors=True)


# What a file that is not a record makes Container.from_json raise (JSON, or its shape).
_UNDECODABLE = (ValueError, TypeError, KeyError, AttributeError)


def _read(directory: Path) -> Container | None:
    """The record in `directory` (FileNotFoundError: none was committed), None when
    neither its state file nor, after it, the file that file replaced decodes. A state
    file swapped into place unsynced (`DeferredSync`) whose bytes a power loss kept from
    the disk is the one case where the second is read: it holds the record before that
    save, whole and synced. (After any other save the temp file is older; a create
    leaves none, its temp file is renamed into place.)"""
    state_file = str(directory / STATE_FILE)
    with open(state_file, "rb") as file:  # FileNotFoundError: nothing committed here
        data = file.read()
    try:
        return Container.from_json(jsonbytes.loads(data))
    except _UNDECODABLE as exc:
        problem = exc
    try:
        with open(_tmp_path(state_file), "rb") as file:
            container = Container.from_json(jsonbytes.loads(file.read()))
    except (OSError, *_UNDECODABLE):
        log.error("skipping unreadable container state %s: %s", state_file, problem)
        return None
    log.warning(
        "container state %s does not decode (%s): using the record it replaced", state_file, problem
    )
    return container


def _erase_logged(directory: str) -> None:
    try:
        erase(directory)
    except OSError as exc:  # (nobody awaits it: said here)
        log.error("removing the files of %s: %s", directory, exc)


def _persist_new(root: str, directory: str, staged: bytes) -> None:
    """A new record made durable: its bytes in the temp file (synced), renamed into place,
    then the container's directory and the store's root synced (the new names in each)."""
    write_atomic(os.path.join(directory, STATE_FILE), staged)
    fsync_dir(directory)
    fsync_dir(root)


class ContainerStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_id: dict[str, Container] = {}
        self._names: dict[str, str] = {}
        self._deferred: DeferredSync | None = None  # see syncing_later
        # The store's threads (made at first use, joined by `close`): one erases removed
        # containers' files in the order asked, two make new records durable.
        self._eraser: ThreadPoolExecutor | None = None
        self._syncer: ThreadPoolExecutor | None = None

    def load(self) -> list[Container]:
        self.root.mkdir(parents=True, exist_ok=True)
        for entry in sorted(self.root.iterdir()):
            try:
                container = _read(entry)
            except FileNotFoundError:
                if entry.is_dir():
                    log.warning("removing %s: a create or removal that never finished", entry)
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            if container is None:
                continue
            container.directory = str(entry)
            if container.state.status is Status.REMOVING and container.name in self._names:
                # A removal whose files had not gone yet, its name already taken again
                # (`docker rm` answers first): restore finishes it; the name is the new one's.
                self._by_id[container.id] = container
                continue
            self._add(container)
        return list(self._by_id.values())

    def directory_for(self, container_id: str) -> str:
        return os.path.join(self.root, container_id)  # str: per create (issue 13)

    def _add(self, container: Container) -> None:
        self._by_id[container.id] = container
        self._names[container.name] = container.id

    def add(self, container: Container) -> None:
        """A new record, durable when this returns."""
        _persist_new(str(self.root), container.directory, encode_state(container))
        self._add(container)

    def persist_new(self, container: Container, staged: bytes) -> asyncio.Future[None]:
        """Create's record made durable in a store thread (create runs it while its RPCs
        are in flight, three fsyncs that no longer wait for them nor hold up the loop);
        the container is not in the store until `commit`. A crash before the RPCs land
        leaves a record whose containerd objects are missing or half made, which restore
        makes (see reconcile.py); a failed create takes it back with `discard_new`."""
        if self._syncer is None:
            self._syncer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store-sync")
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(
            self._syncer, _persist_new, str(self.root), container.directory, staged
        )

    def commit(self, container: Container, staged: bytes) -> None:
        """The end of a create whose `persist_new(container, staged)` is done: the
        container joins the store; a model changed since it was staged is written again
        whole (durable when this returns)."""
        current = encode_state(container)
        if current != staged:
            write_atomic(os.path.join(container.directory, STATE_FILE), current, swap=True)
            fsync_dir(container.directory)
        self._add(container)

    def discard_new(self, container: Container) -> None:
        """A failed create's record and files go, durably: it was never answered for."""
        self.forget(container)
        erase(container.directory)
        fsync_dir(self.root)

    def erase_later(self, directory: str) -> None:
        """`erase(directory)` in the store's eraser thread, in the order asked; nothing
        comes back to the loop. Not on the loop: on this host's ext4 (mounted `discard`)
        each unlinked file's blocks are discarded at once, ~2 ms a container's files. Not
        by `asyncio.to_thread`: its future, the task that awaits it and the loop's
        wake-up at the end cost ~30 us of CPU against ~5 (issue 13). A daemon killed
        before an erase leaves a `removing` record, which restore finishes."""
        if self._eraser is None:
            self._eraser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="erase")
        self._eraser.submit(_erase_logged, directory)

    def close(self) -> None:
        """Wait for the store's threads to finish what they were given (daemon shutdown)."""
        for pool in (self._syncer, self._eraser):
            if pool is not None:
                pool.shutdown(wait=True)
        self._syncer = self._eraser = None

    def save(self, container: Container) -> None:
        if container.id not in self._by_id:
            return  # removed meanwhile: never resurrect it on disk
        path = os.path.join(container.directory, STATE_FILE)
        if self._deferred is None:
            write_atomic(path, encode_state(container), swap=True)
            return
        tmp = _tmp_path(path)
        fd = _write_tmp(tmp, encode_state(container))
        self._deferred.add(fd, container.directory)
        # Swapped, not renamed over: the old file stays whole (and synced) under the temp
        # name until `run`, and is not freed here (see _write_tmp).
        if not exchange(tmp, path):
            os.replace(tmp, path)

    @contextlib.contextmanager
    def syncing_later(self) -> Iterator[DeferredSync]:
        """Saves within (they never await) are renamed into place at once and synced by
        the DeferredSync's `run`, which the caller must see done before it answers."""
        deferred = DeferredSync()
        self._deferred = deferred
        try:
            yield deferred
        except BaseException:
            deferred.close()
            raise
        finally:
            self._deferred = None

    def forget(self, container: Container) -> None:
        """Forget `container` (no save writes it again); its files are `erase`'s."""
        self._by_id.pop(container.id, None)
        if self._names.get(container.name) == container.id:
            del self._names[container.name]

    def name_owner(self, name: str) -> str | None:
        return self._names.get(name)

    def rename(self, container: Container, new_name: str) -> None:
        if self._names.get(container.name) == container.id:
            del self._names[container.name]
        container.name = new_name
        self._names[new_name] = container.id
        self.save(container)

    def get(self, ref: str) -> Container:
        """By full id, by name (with or without its slash), then by unique id prefix."""
        found = self.find(ref)
        if found is None:
            if not ref:  # a name from a request body (network connect): dockerd's 400
                raise InvalidParameter('invalid name or ID supplied: ""')
            raise NotFound(f"No such container: {ref}")
        return found

    def find(self, ref: str) -> Container | None:
        if not ref:
            return None
        if ref in self._by_id:
            return self._by_id[ref]
        owner = self._names.get(ref if ref.startswith("/") else "/" + ref)
        if owner is not None:
            return self._by_id[owner]
        matches = [c for cid, c in self._by_id.items() if cid.startswith(ref)]
        if len(matches) > 1:
            raise InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
        return matches[0] if matches else None

    def __iter__(self) -> Iterator[Container]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)
