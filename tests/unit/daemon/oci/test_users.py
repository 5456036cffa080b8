"""User resolution against the container's passwd and group files, and the rootfs readers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from daemon.oci.errors import StartError
from daemon.oci.rootfs import layered_reader, mapping_reader, reader_for_mounts, rootfs_reader
from daemon.oci.users import resolve_user

PASSWD = b"""root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www:x:33:33:www:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = b"""root:x:0:
daemon:x:1:www
wheel:x:10:root,www
www:x:33:
audio:x:29:
nogroup:x:65534:
"""
FILES = mapping_reader({"/etc/passwd": PASSWD, "/etc/group": GROUP})


def user(spec: str, group_add: tuple[str, ...] = ()) -> dict[str, Any]:
    return resolve_user(spec, group_add, FILES)


def test_empty_user_is_root_with_its_groups() -> None:
    assert user("") == {"uid": 0, "gid": 0, "additionalGids": [10]}


def test_name() -> None:
    assert user("nobody") == {"uid": 65534, "gid": 65534}


def test_name_gets_supplementary_groups() -> None:
    assert user("www") == {"uid": 33, "gid": 33, "additionalGids": [1, 10]}


def test_uid_known_and_unknown() -> None:
    assert user("33") == {"uid": 33, "gid": 33, "additionalGids": [1, 10]}
    assert user("1234") == {"uid": 1234, "gid": 0}


def test_uid_and_gid() -> None:
    assert user("1234:5678") == {"uid": 1234, "gid": 5678}


def test_name_and_group_name_has_no_supplementary_groups() -> None:
    assert user("www:audio") == {"uid": 33, "gid": 29}
    assert user("nobody:33") == {"uid": 65534, "gid": 33}


def test_unknown_user_is_a_start_error() -> None:
    with pytest.raises(
        StartError, match=r"^unable to find user x: no matching entries in passwd file$"
    ) as err:
        user("x")
    assert err.value.http_status == 500


def test_unknown_group() -> None:
    with pytest.raises(
        StartError, match=r"^unable to find group nope: no matching entries in group file$"
    ):
        user("nobody:nope")


def test_group_add_by_name_and_number() -> None:
    assert user("nobody", ("audio", "500", "wheel", "audio")) == {
        "uid": 65534,
        "gid": 65534,
        "additionalGids": [29, 500, 10],
    }
    with pytest.raises(StartError, match=r"^Unable to find group video$"):
        user("nobody", ("video",))


def test_out_of_range() -> None:
    with pytest.raises(StartError, match="uids and gids must be in range 0-2147483647"):
        user("-5")


def test_without_files_only_numbers_resolve() -> None:
    assert resolve_user("7:8") == {"uid": 7, "gid": 8}
    assert resolve_user("") == {"uid": 0, "gid": 0}
    with pytest.raises(StartError):
        resolve_user("nobody")


# --- reading the rootfs ---------------------------------------------------------------


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_rootfs_reader_follows_symlinks_inside_root(tmp_path: Path) -> None:
    write(tmp_path / "real" / "passwd", PASSWD)
    (tmp_path / "etc").mkdir()
    # An absolute link resolves against the container root, not the host's.
    os.symlink("/real/passwd", tmp_path / "etc" / "passwd")
    os.symlink("../../../../real", tmp_path / "up")
    read = rootfs_reader(str(tmp_path))
    assert read("/etc/passwd") == PASSWD
    assert read("/up/passwd") == PASSWD
    assert read("/etc/group") is None
    assert read("/etc") is None  # a directory is not a file


def test_a_changed_passwd_is_read_again(tmp_path: Path) -> None:
    # Parsed files are kept by content: the same rootfs with a new passwd resolves anew.
    write(tmp_path / "etc" / "passwd", PASSWD)
    read = rootfs_reader(str(tmp_path))
    assert resolve_user("www", (), read)["uid"] == 33
    write(tmp_path / "etc" / "passwd", PASSWD.replace(b"www:x:33:33", b"www:x:44:44"))
    assert resolve_user("www", (), read)["uid"] == 44


def test_layered_reader_relative_link_up_and_across_layers(tmp_path: Path) -> None:
    upper, lower = tmp_path / "u", tmp_path / "l"
    write(lower / "real" / "passwd", PASSWD)
    (upper / "etc").mkdir(parents=True)
    os.symlink("../real/./passwd", upper / "etc" / "passwd")
    read = layered_reader([str(upper), str(lower)])
    assert read("/etc/passwd") == PASSWD
    assert read("/etc/../real/passwd") == PASSWD
    assert read("/etc/passwd/..") is None  # the link's directory, no file


def test_symlink_loop_is_absent(tmp_path: Path) -> None:
    os.symlink("/b", tmp_path / "a")
    os.symlink("/a", tmp_path / "b")
    assert rootfs_reader(str(tmp_path))("/a") is None


def whiteout(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, 0o600 | 0o020000, os.makedev(0, 0))


def test_layered_reader_upper_wins_and_whiteouts_hide(tmp_path: Path) -> None:
    upper, middle, lower = tmp_path / "u", tmp_path / "m", tmp_path / "l"
    write(lower / "etc" / "passwd", b"lower\n")
    write(lower / "etc" / "group", GROUP)
    write(lower / "etc" / "shadow", b"x")
    write(middle / "etc" / "passwd", b"middle\n")
    whiteout(upper / "etc" / "shadow")
    upper.mkdir(exist_ok=True)
    read = layered_reader([str(upper), str(middle), str(lower)])
    assert read("/etc/passwd") == b"middle\n"
    assert read("/etc/group") == GROUP
    assert read("/etc/shadow") is None


def test_layered_reader_opaque_directory(tmp_path: Path) -> None:
    upper, lower = tmp_path / "u", tmp_path / "l"
    write(lower / "etc" / "group", GROUP)
    write(upper / "etc" / "passwd", PASSWD)
    try:
        os.setxattr(upper / "etc", "trusted.overlay.opaque", b"y")
    except OSError:
        pytest.skip("no trusted xattrs here")
    read = layered_reader([str(upper), str(lower)])
    assert read("/etc/passwd") == PASSWD
    assert read("/etc/group") is None


class FakeMount:
    def __init__(self, type: str, source: str, options: list[str]) -> None:
        self.type, self.source, self.options = type, source, options


def test_reader_for_overlay_and_bind_mounts(tmp_path: Path) -> None:
    upper, lower1, lower2 = tmp_path / "u", tmp_path / "l1", tmp_path / "l2"
    upper.mkdir()
    write(lower1 / "etc" / "passwd", b"top lower\n")
    write(lower2 / "etc" / "passwd", b"bottom\n")
    overlay = FakeMount(
        "overlay",
        "overlay",
        ["index=off", f"workdir={tmp_path}/w", f"upperdir={upper}", f"lowerdir={lower1}:{lower2}"],
    )
    assert reader_for_mounts([overlay])("/etc/passwd") == b"top lower\n"
    bind = FakeMount("bind", str(lower2), ["ro", "rbind"])
    assert reader_for_mounts([bind])("/etc/passwd") == b"bottom\n"
    with pytest.raises(ValueError):
        reader_for_mounts([])


def test_resolve_from_a_rootfs(tmp_path: Path) -> None:
    write(tmp_path / "etc" / "passwd", PASSWD)
    write(tmp_path / "etc" / "group", GROUP)
    assert resolve_user("www", (), rootfs_reader(str(tmp_path)))["uid"] == 33
