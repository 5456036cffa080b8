"""containerfs on a plain directory standing in for a container root: chroot-like resolution,
tar naming, and unpacking that never writes outside the root."""

from __future__ import annotations

import io
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.containerfs import scope
from daemon.containerfs.changes import Change, Kind
from daemon.containerfs.pack import pack, pack_changes
from daemon.containerfs.pathstat import GO_MODE_DIR, GO_MODE_SYMLINK, go_file_mode
from daemon.containerfs.unpack import ArchiveError, ExtractOptions, extract, member_path
from daemon.timefmt import rfc3339_nano


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root with an outside neighbour that every escape would hit."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("host secret\n")
    top = tmp_path / "root"
    (top / "etc").mkdir(parents=True)
    (top / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (top / "tmp").mkdir()
    (top / "tmp" / "abs").symlink_to("/")
    (top / "tmp" / "up").symlink_to("../../../../..")
    (top / "tmp" / "pw").symlink_to("/etc/passwd")
    (top / "tmp" / "loop").symlink_to("loop")
    (top / "tmp" / "dangling").symlink_to("/no/where")
    return top


@pytest.fixture
def root_fd(root: Path) -> Iterator[int]:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield fd
    finally:
        os.close(fd)


def test_clean_paths_like_dockerd() -> None:
    assert scope.abs_path("etc/../tmp") == "/tmp"
    assert scope.abs_path("/etc/") == "/etc/"
    assert scope.abs_path("/etc/.") == "/etc/."
    assert scope.abs_path("/..") == "/"
    assert [scope.go_base(p) for p in ("/", "/etc/", "/etc/.", "/a/b")] == ["/", "etc", ".", "b"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/tmp/abs/etc/passwd", "/etc/passwd"),
        ("/tmp/up/etc/passwd", "/etc/passwd"),
        ("/tmp/up/../../etc", "/etc"),
        ("/tmp/pw", "/etc/passwd"),
        ("/tmp/dangling", "/no/where"),
    ],
)
def test_symlinks_resolve_inside_the_root(root_fd: int, path: str, expected: str) -> None:
    assert scope.scoped_path(root_fd, path) == expected


def test_locate_does_not_follow_the_last_link_unless_asked(root_fd: int) -> None:
    with scope.locate(root_fd, "/tmp/pw", follow_last=False) as location:
        assert (location.path, location.name) == ("/tmp/pw", "pw")
        assert go_file_mode(location.lstat().st_mode) & GO_MODE_SYMLINK
    with scope.locate(root_fd, "/tmp/up/etc", follow_last=True) as location:
        assert location.path == "/etc" and location.dir_fd is not None
        assert go_file_mode(location.lstat().st_mode) == GO_MODE_DIR | 0o755


def test_locate_errors(root_fd: int) -> None:
    with pytest.raises(FileNotFoundError):
        scope.locate(root_fd, "/tmp/dangling", follow_last=True)
    with pytest.raises(NotADirectoryError):
        scope.locate(root_fd, "/etc/passwd/x", follow_last=True)
    with pytest.raises(OSError) as info:
        scope.locate(root_fd, "/tmp/loop", follow_last=True)
    assert info.value.errno == 40  # ELOOP


def test_read_file_stays_inside(root_fd: int) -> None:
    assert scope.read_file(root_fd, "/tmp/up/outside/secret") is None
    assert scope.read_file(root_fd, "/tmp/pw") == b"root:x:0:0::/root:/bin/sh\n"


def test_go_time_trims_nanoseconds() -> None:
    assert rfc3339_nano(0) == "1970-01-01T00:00:00Z"
    assert rfc3339_nano(1_500_000_000) == "1970-01-01T00:00:01.5Z"


def _names(root_fd: int, path: str) -> list[str]:
    absolute = scope.abs_path(path)
    with scope.locate(root_fd, absolute, follow_last=scope.names_dir(absolute)) as location:
        data = b"".join(
            pack(location.parent_fd, location.name, location.dir_fd, scope.go_base(absolute))
        )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [m.name + ("/" if m.isdir() else "") for m in tar.getmembers()]


def test_pack_names_entries_after_the_path_asked_for(root: Path, root_fd: int) -> None:
    (root / "etc" / "hard").hardlink_to(root / "etc" / "passwd")
    assert _names(root_fd, "/etc") == ["etc/", "etc/hard", "etc/passwd"]
    assert _names(root_fd, "/etc/.") == ["./", "./hard", "./passwd"]
    assert _names(root_fd, "/tmp/pw") == ["pw"]
    assert _names(root_fd, "/tmp/up/etc/") == ["etc/", "etc/hard", "etc/passwd"]
    names = _names(root_fd, "/")
    assert names[:2] == ["/", "/etc/"] and "/tmp/abs" in names
    assert not any("outside" in name for name in names)


def _tar(*members: tuple[str, bytes, str]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, 0o640
            data = None
            if kind == tarfile.SYMTYPE:
                info.linkname = payload
            elif kind == tarfile.REGTYPE:
                data = io.BytesIO(payload.encode())
                info.size = len(payload)
            tar.addfile(info, data)
    buffer.seek(0)
    return buffer


def test_extract_through_links_stays_inside(root: Path, root_fd: int) -> None:
    archive = _tar(
        ("evil", tarfile.SYMTYPE, "/"),
        ("evil/outside/secret", tarfile.REGTYPE, "overwritten?\n"),
        ("new/dir/file", tarfile.REGTYPE, "made parents\n"),
    )
    extract(root_fd, "/tmp", archive, ExtractOptions())
    assert (root.parent / "outside" / "secret").read_text() == "host secret\n"
    assert (root / "outside" / "secret").read_text() == "overwritten?\n"
    assert os.readlink(root / "tmp" / "evil") == "/"
    assert (root / "tmp" / "new" / "dir" / "file").stat().st_mode & 0o777 == 0o640


def test_extract_replaces_a_link_instead_of_writing_through_it(root: Path, root_fd: int) -> None:
    extract(root_fd, "/tmp", _tar(("pw", tarfile.REGTYPE, "replaced\n")), ExtractOptions())
    assert not (root / "tmp" / "pw").is_symlink()
    assert (root / "etc" / "passwd").read_text().startswith("root:")


def test_extract_refuses_escaping_names_and_conflicts(root_fd: int) -> None:
    with pytest.raises(ArchiveError, match=re.escape('"../x" is outside of "/tmp"')):
        extract(root_fd, "/tmp", _tar(("a/../../x", tarfile.REGTYPE, "")), ExtractOptions())
    options = ExtractOptions(no_overwrite_dir_non_dir=True)
    with pytest.raises(ArchiveError, match="cannot overwrite directory"):
        extract(root_fd, "/", _tar(("etc", tarfile.REGTYPE, "")), options)
    assert member_path("/abs/name") == "abs/name" and member_path("./") == ""
    extract(root_fd, "/tmp", io.BytesIO(b""), ExtractOptions())  # empty: nothing to do


def test_pack_changes_writes_entries_alone_and_deletions_as_whiteouts(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc" / "conf.d").mkdir(parents=True)
    (upper / "etc" / "conf.d" / "new").write_bytes(b"data")
    (upper / "etc" / "untouched-but-present").write_bytes(b"not listed")
    os.symlink("new", upper / "etc" / "conf.d" / "link")
    changes = [
        Change("/etc", Kind.MODIFIED),
        Change("/etc/conf.d", Kind.ADDED),
        Change("/etc/conf.d/link", Kind.ADDED),
        Change("/etc/conf.d/new", Kind.ADDED),
        Change("/etc/group", Kind.DELETED),
        Change("/gone-meanwhile", Kind.ADDED),
    ]
    fd = os.open(upper, scope.DIR_FLAGS)
    try:
        data = b"".join(pack_changes(fd, changes))
    finally:
        os.close(fd)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [(m.name, m.type) for m in members] == [
            ("etc", tarfile.DIRTYPE),
            ("etc/conf.d", tarfile.DIRTYPE),
            ("etc/conf.d/link", tarfile.SYMTYPE),
            ("etc/conf.d/new", tarfile.REGTYPE),
            ("etc/.wh.group", tarfile.REGTYPE),
        ]
        new = tar.extractfile("etc/conf.d/new")
        assert new is not None and new.read() == b"data"
        assert members[2].linkname == "new"
