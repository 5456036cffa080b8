"""Mount parsing, tmpfs options, and the order and options of the spec's mounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from daemon.oci import paths
from daemon.oci.defaults import default_mounts
from daemon.oci.errors import SpecError, StartError
from daemon.oci.etc_files import EtcPaths
from daemon.oci.mounts import (
    UserMount,
    create_missing_bind_sources,
    inherit_mounts,
    mount_points,
    parse_bind,
    parse_mount,
    parse_volumes_from,
    plan_mounts,
    user_mounts,
)
from daemon.oci.tmpfs import merge_tmpfs_options, tmpfs_data, tmpfs_mount_options

ETC = EtcPaths(hostname="/c/hostname", hosts="/c/hosts", resolv_conf="/c/resolv.conf")


def by_destination(mounts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["destination"]: m for m in mounts}


def test_clean_like_go() -> None:
    assert paths.clean("//a/./b/../c/") == "/a/c"
    assert paths.depth("/") < paths.depth("/a") < paths.depth("/a/b")


def test_parse_bind_modes() -> None:
    mount = parse_bind("/src/:/dst/:ro,rshared,z")
    assert (mount.source, mount.destination, mount.writable) == ("/src", "/dst", False)
    assert mount.propagation == "rshared" and mount.create_source
    plain = parse_bind("/a:/b")
    assert plain.writable and plain.propagation == "rprivate"


def test_parse_mount_bind_and_tmpfs(tmp_path: Path) -> None:
    bind = parse_mount(
        {
            "Type": "bind",
            "Source": str(tmp_path),
            "Target": "/data",
            "ReadOnly": True,
            "BindOptions": {"Propagation": "rslave", "NonRecursive": True},
        }
    )
    assert not bind.writable and bind.propagation == "rslave" and not bind.recursive
    assert not bind.create_source
    tmpfs = parse_mount(
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}}
    )
    assert tmpfs.data == "mode=1770,size=1m"


def test_tmpfs_data_sizes() -> None:
    assert tmpfs_data({"SizeBytes": 3 << 30}, True) == "ro,size=3g"
    assert tmpfs_data({"SizeBytes": 1536}, False) == "size=1536"
    assert tmpfs_data({"SizeBytes": 2048}, False) == "size=2k"
    assert tmpfs_data(None, False) == ""


def test_tmpfs_options_later_wins() -> None:
    assert tmpfs_mount_options("rw,exec,size=64m") == [
        "nosuid", "nodev", "rprivate", "rw", "exec", "size=64m",
    ]  # fmt: skip
    assert merge_tmpfs_options(["size=1", "ro", "size=2", "defaults", "rw"]) == ["size=2", "rw"]
    assert tmpfs_mount_options("") == ["noexec", "nosuid", "nodev", "rprivate"]


def test_missing_bind_sources_are_created_for_binds_only(tmp_path: Path) -> None:
    missing = tmp_path / "a" / "b"
    existing_file = tmp_path / "f"
    existing_file.write_text("x")
    create_missing_bind_sources({"Binds": [f"{missing}:/x", f"{existing_file}:/f"]})
    assert missing.is_dir() and existing_file.is_file()


def test_bind_source_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    # A file where a parent directory should be: dockerd ignores ENOTDIR too.
    create_missing_bind_sources({"Binds": [f"{blocker}/sub:/x"]})
    # procfs refuses new directories, whoever asks.
    with pytest.raises(
        StartError, match=r"^error while creating mount source path '/proc/moorage-no/dir': "
    ):
        create_missing_bind_sources({"Binds": ["/proc/moorage-no/dir:/x"]})


def test_defaults_then_user_mounts_parents_first(tmp_path: Path) -> None:
    requested = user_mounts(
        {
            "Binds": [f"{tmp_path}:/run/app/data", "/opt:/opt:ro"],
            "Tmpfs": {"/run": "size=1m"},
            "Mounts": [{"Type": "tmpfs", "Target": "/run/app"}],
        }
    )
    plan = plan_mounts(default_mounts(0), requested, etc_paths=ETC, shm_size=1024)
    order = [m["destination"] for m in plan.mounts]
    assert order.index("/run") < order.index("/run/app") < order.index("/run/app/data")
    assert order.index("/dev") < order.index("/dev/shm")
    assert order.index("/sys") < order.index("/sys/fs/cgroup")
    for mount in plan.mounts:
        parent = mount["destination"].rsplit("/", 1)[0]
        if parent and parent in order:
            assert order.index(parent) < order.index(mount["destination"])
    mounts = by_destination(plan.mounts)
    assert mounts["/opt"]["options"] == ["rbind", "ro", "rprivate"]
    assert mounts["/run/app/data"]["options"] == ["rbind", "rprivate"]
    assert mounts["/dev/shm"]["options"][-1] == "size=1024"
    assert mounts["/etc/hosts"] == {
        "destination": "/etc/hosts",
        "type": "bind",
        "source": "/c/hosts",
        "options": ["rbind", "rprivate"],
    }
    assert plan.rootfs_propagation is None


def test_user_mount_replaces_default_and_etc_file(tmp_path: Path) -> None:
    requested = user_mounts({"Binds": [f"{tmp_path}:/etc/hosts"], "Tmpfs": {"/dev/shm": "size=5m"}})
    plan = plan_mounts(default_mounts(), requested, etc_paths=ETC)
    mounts = by_destination(plan.mounts)
    assert mounts["/etc/hosts"]["source"] == str(tmp_path)
    assert mounts["/dev/shm"]["source"] == "tmpfs"
    assert mounts["/dev/shm"]["options"][-1] == "size=5m"
    assert len(plan.mounts) == len(mounts)


def test_user_dev_replaces_everything_under_dev() -> None:
    plan = plan_mounts(default_mounts(), user_mounts({"Binds": ["/dev:/dev"]}))
    assert not [m for m in plan.mounts if m["destination"].startswith("/dev/")]


def test_readonly_root() -> None:
    requested = user_mounts({"Tmpfs": {"/tmp": ""}, "Binds": ["/a:/a"]})
    plan = plan_mounts(default_mounts(), requested, etc_paths=ETC, readonly_root=True)
    mounts = by_destination(plan.mounts)
    for writable in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/tmp", "/a"):
        assert "ro" not in mounts[writable]["options"], writable
    for read_only in ("/sys", "/sys/fs/cgroup", "/etc/hosts", "/etc/hostname"):
        assert "ro" in mounts[read_only]["options"], read_only


def test_privileged_makes_sys_and_cgroup_writable() -> None:
    plan = plan_mounts(default_mounts(), [], privileged=True, readonly_root=True)
    mounts = by_destination(plan.mounts)
    assert "ro" not in mounts["/sys"]["options"]
    assert "ro" not in mounts["/sys/fs/cgroup"]["options"]


def test_ipc_modes() -> None:
    none = by_destination(plan_mounts(default_mounts(), [], ipc_mode="none").mounts)
    assert "/dev/shm" not in none
    host = by_destination(plan_mounts(default_mounts(), [], ipc_mode="host").mounts)
    assert host["/dev/shm"]["type"] == "bind" and host["/dev/shm"]["source"] == "/dev/shm"
    joined = plan_mounts(
        default_mounts(), [], ipc_mode="container:x", shm_source=lambda: "/other/shm"
    )
    assert by_destination(joined.mounts)["/dev/shm"]["source"] == "/other/shm"


def test_shared_bind_makes_root_shared() -> None:
    plan = plan_mounts(default_mounts(), [parse_bind("/a:/a:rshared")])
    assert plan.rootfs_propagation == "shared"
    plan = plan_mounts(default_mounts(), [parse_bind("/a:/a:slave")])
    assert plan.rootfs_propagation == "rslave"


def test_defaults_not_mutated() -> None:
    defaults = default_mounts()
    plan_mounts(defaults, [], readonly_root=True, shm_size=5)
    assert defaults == default_mounts()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("data", ("data", "rw")), ("data:ro", ("data", "ro")), ("data:rw,z", ("data", "rw,z"))],
)
def test_parse_volumes_from(raw: str, expected: tuple[str, str]) -> None:
    assert parse_volumes_from(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "volumes-from specification cannot be an empty string"),
        ("data:bogus", "invalid mode: bogus"),
        ("data:ro,rw", "invalid mode: ro,rw"),
        # dockerd keeps the source's propagation and never copies data into them.
        ("data:shared", "invalid mode: shared"),
        ("data:nocopy", "invalid mode: nocopy"),
    ],
)
def test_parse_volumes_from_errors(raw: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_volumes_from(raw)
    assert str(caught.value) == message and caught.value.http_status == 400


def test_inherited_mounts_are_replaced_by_own_and_keep_a_read_only_source() -> None:
    inherited = [
        UserMount(destination="/a", type="bind", source="/src/a", writable=False),
        UserMount(destination="/b", type="bind", source="/src/b"),
    ]
    host_config = {"Binds": ["/mine:/b"], "Tmpfs": {"/t": ""}}
    points = mount_points(host_config, inherited)
    # HostConfig.Tmpfs is no mount point (dockerd copies none); Binds replace inherited.
    assert [(m.destination, m.source) for m in points] == [("/a", "/src/a"), ("/b", "/mine")]
    # rw cannot make a read-only source writable; ro makes everything read-only.
    assert [m.writable for m in inherit_mounts(points, "rw")] == [False, True]
    assert [m.writable for m in inherit_mounts(points, "ro")] == [False, False]
    assert UserMount.from_json(points[0].as_json()) == points[0]
