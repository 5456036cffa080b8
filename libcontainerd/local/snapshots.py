"""The local snapshotter: overlayfs snapshots in plain directories, and layer unpacking.

A snapshot is `<root>/<sid>/` (`sid`: a hash of its name) holding `info.json`
(name, parent, kind, labels), `fs/` (the layer's files, or a container's upper
dir) and `work/` (overlayfs's work dir). An active snapshot mounts as an overlay
of its own `fs/` on its parents' (or as a bind mount of `fs/` when it has none);
committing renames it to its new name. A layer is unpacked straight into an
active snapshot's `fs/`, whiteouts written in overlayfs's form (a 0/0 character
device; an opaque directory's `trusted.overlay.opaque` xattr), as containerd's
overlay applier does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import os
import posixpath
import secrets
import shutil
import stat
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ..digests import chain_ids
from ..errors import AlreadyExistsError, LayerDigestMismatchError, NotFoundError, UnknownError
from ..types import (
    DEFAULT_SNAPSHOTTER,
    LAYER_SIZE_LABEL,
    LayerSpec,
    Mount,
    SnapshotInfo,
    UnpackedLayer,
)
from .content import LocalContentStore
from .files import read_json, write_json

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
_CHUNK = 1024 * 1024


def _sid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


class Snapshotter:
    def __init__(self, root: Path, name: str = DEFAULT_SNAPSHOTTER) -> None:
        self.root = root
        self.name = name
        root.mkdir(parents=True, exist_ok=True)

    def _dir(self, name: str) -> Path:
        return self.root / _sid(name)

    def info(self, name: str) -> SnapshotInfo:
        try:
            value = read_json(self._dir(name) / "info.json")
        except FileNotFoundError:
            raise NotFoundError(f"snapshot {name!r}: not found") from None
        return SnapshotInfo(value["name"], value["parent"], value["kind"], value["labels"])

    def _write_info(self, info: SnapshotInfo, directory: Path) -> None:
        write_json(
            directory / "info.json",
            {
                "name": info.name,
                "parent": info.parent,
                "kind": info.kind,
                "labels": dict(info.labels),
            },
        )

    def listing(self, *filters: str) -> list[SnapshotInfo]:
        names = {f.partition("==")[2].strip('"') for f in filters if f.startswith("name==")}
        found = []
        for directory in self.root.iterdir():
            try:
                value = read_json(directory / "info.json")
            except (FileNotFoundError, NotADirectoryError, ValueError):
                continue
            if names and value["name"] not in names:
                continue
            found.append(
                SnapshotInfo(value["name"], value["parent"], value["kind"], value["labels"])
            )
        return found

    def fs(self, name: str) -> Path:
        return self._dir(name) / "fs"

    def prepare(
        self, key: str, parent: str, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        if parent and self.info(parent).kind != "committed":
            raise NotFoundError(f"parent snapshot {parent!r}: not committed")
        directory = self._dir(key)
        try:
            directory.mkdir()
        except FileExistsError:
            raise AlreadyExistsError(f"snapshot {key!r}: already exists") from None
        (directory / "fs").mkdir()
        (directory / "work").mkdir()
        self._write_info(SnapshotInfo(key, parent, "active", dict(labels or {})), directory)
        return self.mounts(key)

    def mounts(self, key: str) -> list[Mount]:
        info = self.info(key)
        directory = self._dir(key)
        lower = []
        parent = info.parent
        while parent:
            lower.append(str(self.fs(parent)))
            parent = self.info(parent).parent
        if not lower:
            return [Mount("bind", str(directory / "fs"), ("rbind", "rw"))]
        options = [f"lowerdir={':'.join(lower)}"]
        if info.kind == "active":
            options = [
                f"workdir={directory / 'work'}",
                f"upperdir={directory / 'fs'}",
                *options,
            ]
        return [Mount("overlay", "overlay", tuple(options))]

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        info = self.info(key)
        target = self._dir(name)
        if target.exists():
            raise AlreadyExistsError(f"snapshot {name!r}: already exists")
        source = self._dir(key)
        self._write_info(SnapshotInfo(name, info.parent, "committed", dict(labels or {})), source)
        os.rename(source, target)

    def remove(self, key: str) -> None:
        directory = self._dir(key)
        if not directory.exists():
            raise NotFoundError(f"snapshot {key!r}: not found")
        children = [i.name for i in self.listing() if i.parent == key]
        if children:
            raise AlreadyExistsError(f"snapshot {key!r} has children: {children[0]}")
        # Renamed first, so that a removal cut short leaves no half snapshot under its name.
        doomed = self.root / f".removing-{secrets.token_hex(6)}"
        os.rename(directory, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


class _Hashing:
    """A read-only file object over the uncompressed layer that hashes what passes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.hasher = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.hasher.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def _open_layer(path: Path) -> IO[bytes]:
    with open(path, "rb") as probe:
        magic = probe.read(4)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        raise LayerDigestMismatchError(f"layer {path.name}: zstd layers are not supported")
    return open(path, "rb")


def _inside(root: str, rel: str) -> str | None:
    """`rel` cleaned and joined to `root`; None if it leaves it, also through a symlink
    among its parents (made by this same layer)."""
    cleaned = posixpath.normpath("/" + rel).lstrip("/")
    if not cleaned or cleaned == ".":
        return None
    path = os.path.join(root, cleaned)
    parent = os.path.realpath(os.path.dirname(path))
    if parent != root and not parent.startswith(root + os.sep):
        return None
    return path


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def apply_tar(blob: Path, fs: Path) -> tuple[str, int]:
    """Unpacks a layer blob into `fs` (overlayfs whiteouts); its diff ID and tar size.

    A blob that is no tar fails with Go's archive/tar texts, as containerd's applier
    does (the daemon shows them to the user)."""
    try:
        return _apply_tar(blob, fs)
    except tarfile.ReadError as exc:
        if str(exc) == "empty file":  # no bytes at all: Go reads an empty layer
            return f"sha256:{hashlib.sha256(b'').hexdigest()}", 0
        raise UnknownError(f"apply layer {blob.name}: archive/tar: invalid tar header") from exc
    except (EOFError, tarfile.TarError, zlib.error, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile):
            raise
        raise UnknownError(f"apply layer {blob.name}: unexpected EOF: {exc}") from exc


def _apply_tar(blob: Path, fs: Path) -> tuple[str, int]:
    root = os.path.realpath(fs)
    with _open_layer(blob) as raw:
        hashing = _Hashing(raw)
        with tarfile.open(fileobj=hashing, mode="r|") as tar:  # type: ignore[call-overload]
            member: tarfile.TarInfo
            for member in tar:
                path = _inside(root, member.name)
                if path is None:
                    continue
                base = os.path.basename(path)
                if base == OPAQUE:
                    directory = os.path.dirname(path)
                    os.makedirs(directory, exist_ok=True)
                    os.setxattr(directory, "trusted.overlay.opaque", b"y")
                    continue
                if base.startswith(WHITEOUT_PREFIX):
                    hidden = os.path.join(os.path.dirname(path), base[len(WHITEOUT_PREFIX) :])
                    os.makedirs(os.path.dirname(hidden), exist_ok=True)
                    _remove(hidden)
                    os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0))
                    continue
                if os.path.lexists(path) and not (member.isdir() and os.path.isdir(path)):
                    _remove(path)
                if member.islnk():
                    target = _inside(root, member.linkname)
                    if target is None:
                        continue
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    os.link(target, path)
                    continue
                member.name = os.path.relpath(path, root)
                tar.extract(member, root, numeric_owner=True, filter="fully_trusted")
        hashing.drain()
    return f"sha256:{hashing.hasher.hexdigest()}", hashing.size


class LocalUnpacker:
    def __init__(self, snapshotter: Snapshotter, content: LocalContentStore) -> None:
        self._snapshotter = snapshotter
        self._content = content

    @property
    def snapshotter(self) -> str:
        return self._snapshotter.name

    async def snapshots(self, *filters: str) -> list[SnapshotInfo]:
        return self._snapshotter.listing(*filters)

    async def committed(self, chain: Sequence[str]) -> set[str]:
        if not chain:
            return set()
        found = self._snapshotter.listing(*(f'name=="{c}"' for c in chain))
        return {info.name for info in found if info.kind == "committed"}

    async def unpack(
        self, layers: Sequence[LayerSpec], *, present: set[str] | None = None
    ) -> list[UnpackedLayer]:
        chain = chain_ids([layer.diff_id for layer in layers])
        if present is None:
            present = await self.committed(chain)
        start = max((i + 1 for i, c in enumerate(chain) if c in present), default=0)
        result = [UnpackedLayer(c, None, False) for c in chain[:start]]
        for index in range(start, len(layers)):
            parent = chain[index - 1] if index else ""
            size = await self.apply_layer(layers[index], chain[index], parent)
            result.append(UnpackedLayer(chain[index], size, True))
        return result

    async def apply_layer(
        self, layer: LayerSpec, chain_id: str, parent: str, labels: Mapping[str, Any] | None = None
    ) -> int:
        key = f"extract-{secrets.token_hex(6)}-{chain_id}"
        snapshots = self._snapshotter
        snapshots.prepare(key, parent)
        committed = False
        try:
            blob = self._content.path(layer.blob.digest)
            if not blob.exists():
                raise NotFoundError(f"content digest {layer.blob.digest}: not found")
            diff_id, size = await asyncio.to_thread(apply_tar, blob, snapshots.fs(key))
            if diff_id != layer.diff_id:
                raise LayerDigestMismatchError(
                    f"layer {layer.blob.digest} unpacks to {diff_id}, "
                    f"but its image says {layer.diff_id}"
                )
            try:
                snapshots.commit(chain_id, key, {LAYER_SIZE_LABEL: str(size), **(labels or {})})
                committed = True
            except AlreadyExistsError:
                pass  # unpacked meanwhile by another image: theirs is as good as ours
            return size
        finally:
            if not committed:
                with contextlib.suppress(Exception):
                    snapshots.remove(key)
