"""The build context: member checks, .dockerignore, globs, checksums (files in tmp_path)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from daemon import errors
from daemon.builder import copier
from daemon.builder.context import BuildContext, apply_dockerignore, check_members, unpack


def _tar(path: Path, names: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in names.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _context(tmp_path: Path, files: dict[str, bytes]) -> BuildContext:
    return unpack(_tar(tmp_path / "ctx.tar", files), tmp_path / "root")


@pytest.mark.parametrize("name", ["../x", "/abs", "a/../../x"])
def test_escaping_members_refuse_the_context(tmp_path: Path, name: str) -> None:
    with pytest.raises(errors.InvalidParameter):
        check_members(_tar(tmp_path / "bad.tar", {"ok": b"", name: b""}))


def test_dockerignore_is_anchored_with_negation_and_double_star(tmp_path: Path) -> None:
    files = {
        ".dockerignore": b"# comment\n*.md\n**/*.log\nsecret/\n!keep.md\nDockerfile\n",
        "Dockerfile": b"FROM x\n",
        "a.md": b"",
        "keep.md": b"",
        "sub/b.md": b"",
        "sub/deep/c.log": b"",
        "secret/key": b"",
        "src/main.c": b"",
    }
    context = _context(tmp_path, files)
    try:
        apply_dockerignore(context)
        left = sorted(
            os.path.relpath(os.path.join(d, f), context.root)
            for d, _, names in os.walk(context.root)
            for f in names
        )
        # The Dockerfile was listed: it goes too (it was read before).
        assert left == [".dockerignore", "keep.md", "src/main.c", "sub/b.md"]
    finally:
        context.close()


def test_glob_matches_one_component_per_star(tmp_path: Path) -> None:
    context = _context(tmp_path, {"a1.txt": b"", "a2.txt": b"", "d/a3.txt": b"", "b.txt": b""})
    try:
        assert context.glob("a*.txt") == ["a1.txt", "a2.txt"]
        assert context.glob("*/a*.txt") == ["d/a3.txt"]
        assert context.glob("nothing*") == []
    finally:
        context.close()


def test_checksum_follows_content_and_mode_not_times(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one")
    source = [copier.Source(path, "f")]
    first = copier.checksum(source)
    assert first.startswith("file:")
    os.utime(path, (1, 1))
    assert copier.checksum(source) == first
    path.chmod(0o600)
    assert copier.checksum(source) != first
    path.chmod(0o644)
    path.write_bytes(b"two")
    assert copier.checksum(source) != first
    (tmp_path / "d").mkdir()
    assert copier.checksum([copier.Source(tmp_path / "d", "d")]).startswith("dir:")
    assert copier.checksum(source + source).startswith("multi:")
