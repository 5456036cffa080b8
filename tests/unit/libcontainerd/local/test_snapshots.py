"""Local snapshots: overlay mounts of a chain, layers unpacked with overlayfs whiteouts."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from libcontainerd.errors import AlreadyExistsError, UnknownError
from libcontainerd.local.snapshots import Snapshotter, apply_tar


def _tar(path: Path, *members: tuple[str, bytes | None, str]) -> Path:
    """(name, data or None for a directory, symlink target or "")."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return path


def test_a_chain_mounts_as_one_overlay(tmp_path: Path) -> None:
    snapshots = Snapshotter(tmp_path / "s")
    assert snapshots.prepare("k1", "")[0].type == "bind"
    snapshots.commit("c1", "k1")
    snapshots.prepare("k2", "c1")
    snapshots.commit("c2", "k2")
    [mount] = snapshots.prepare("rw", "c2")
    options = dict(o.split("=", 1) for o in mount.options)
    assert mount.type == "overlay"
    assert options["lowerdir"] == f"{snapshots.fs('c2')}:{snapshots.fs('c1')}"
    assert options["upperdir"] == str(snapshots.fs("rw"))
    with pytest.raises(AlreadyExistsError):
        snapshots.remove("c2")  # rw is its child
    snapshots.remove("rw")
    snapshots.remove("c2")
    assert {i.name for i in snapshots.listing()} == {"c1"}


def test_whiteouts_opaque_dirs_and_escapes(tmp_path: Path) -> None:
    fs = tmp_path / "fs"
    fs.mkdir()
    outside = tmp_path / "outside"
    blob = _tar(
        tmp_path / "layer.tar",
        ("bin", None, ""),
        ("bin/.wh.echo", b"", ""),
        ("tmp", None, ""),
        ("tmp/.wh..wh..opq", b"", ""),
        ("tmp/new", b"new\n", ""),
        ("link", None, str(tmp_path)),
        ("link/outside", b"escaped", ""),
        ("../outside2", b"escaped", ""),
    )
    diff_id, size = apply_tar(blob, fs)
    whiteout = os.lstat(fs / "bin" / "echo")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == os.makedev(0, 0)
    assert os.getxattr(fs / "tmp", "trusted.overlay.opaque") == b"y"
    assert (fs / "tmp" / "new").read_bytes() == b"new\n"
    assert not outside.exists() and not (tmp_path / "outside2").exists()
    assert size == blob.stat().st_size and diff_id.startswith("sha256:")


def test_a_blob_that_is_no_tar_fails_as_containerd_says(tmp_path: Path) -> None:
    blob = tmp_path / "garbage"
    blob.write_bytes(b"hello" * 200)
    with pytest.raises(UnknownError, match="archive/tar: invalid tar header"):
        apply_tar(blob, tmp_path)
