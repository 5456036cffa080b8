"""Named and anonymous volumes (the `local` driver) with the real docker CLI."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.support.containerd import ImportedImage, TestContainerd, count_delta
from tests.support.daemon import RunningDaemon, running_daemon
from tests.support.images import build_busybox_layer, build_image, write_docker_save

HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Go's time.RFC3339 in local time: "Z" or an offset, no fraction.
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _inspect(daemon: RunningDaemon, *args: str) -> Any:
    return json.loads(await daemon.docker_ok(*args))[0]


async def _volume_names(daemon: RunningDaemon, *args: str) -> set[str]:
    out = await daemon.docker_ok("volume", "ls", "-q", *args)
    return set(out.split())


def _volumes_dir(daemon: RunningDaemon) -> Path:
    return daemon.services.config.data_root / "volumes"


# The host's side of a volume, looked at directly (small, so not worth a thread).
def _exists(path: str | Path) -> bool:
    return os.path.lexists(path)


def _is_mount(path: str | Path) -> bool:
    return os.path.ismount(path)


def _read(path: str | Path) -> str:
    return Path(path).read_text()


def _write(path: str | Path, data: bytes) -> None:
    Path(path).write_bytes(data)


def _owner_and_mode(path: str | Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_uid, st.st_mode & 0o777


def _layer_with_owned_dir() -> bytes:
    """/srv/data owned by 1000:1000, mode 0750, holding seed.txt; and /opt/empty."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, mode, uid in (("srv", 0o755, 0), ("srv/data", 0o750, 1000), ("opt", 0o755, 0)):
            info = tarfile.TarInfo(path + "/")
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
            tar.addfile(info)
        data = b"from the image\n"
        info = tarfile.TarInfo("srv/data/seed.txt")
        info.size, info.mode, info.uid, info.gid = len(data), 0o640, 1000, 1000
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def _load_volume_image(daemon: RunningDaemon, tmp_path: Path) -> str:
    """An image declaring VOLUME /srv/data over content there (tagged, loaded)."""
    image = build_image(
        [build_busybox_layer(), _layer_with_owned_dir()], {"Volumes": {"/srv/data": {}}}
    )
    tag = f"moorage-test/volumed:{uuid.uuid4().hex[:8]}"
    archive = tmp_path / "volumed.tar"
    write_docker_save(archive, [tag], image)
    await daemon.docker_ok("load", "-i", str(archive))
    return tag


# -- the volume API ----------------------------------------------------------------------------


async def test_create_inspect_and_list_with_filters(daemon: RunningDaemon) -> None:
    name = _name("vol")
    out = await daemon.docker_ok(
        "volume", "create", "--label", "team=db", "--label", "tier", "--opt", "o=size=1m",
        "--opt", "type=tmpfs", "--opt", "device=tmpfs", name,
    )  # fmt: skip
    assert out == f"{name}\n"
    volume = await _inspect(daemon, "volume", "inspect", name)
    assert volume["Name"] == name
    assert volume["Driver"] == "local" and volume["Scope"] == "local"
    assert volume["Labels"] == {"team": "db", "tier": ""}
    assert volume["Options"] == {"o": "size=1m", "type": "tmpfs", "device": "tmpfs"}
    assert volume["Mountpoint"] == str(_volumes_dir(daemon) / name / "_data")
    assert _exists(volume["Mountpoint"])
    assert RFC3339.match(volume["CreatedAt"]), volume["CreatedAt"]
    # Creating it again answers the one there is.
    assert await daemon.docker_ok("volume", "create", name) == f"{name}\n"
    other = _name("plain")
    await daemon.docker_ok("volume", "create", other)
    status, generated = await daemon.request("POST", "/volumes/create", {})
    assert status == 201 and HEX64.match(generated["Name"])
    assert generated["Labels"] is None and generated["Options"] is None
    # The CLI sends empty maps: shown as null, as dockerd does.
    assert (await _inspect(daemon, "volume", "inspect", other))["Options"] is None

    assert {name, other, generated["Name"]} <= await _volume_names(daemon)
    assert await _volume_names(daemon, "--filter", "label=team=db") == {name}
    assert await _volume_names(daemon, "--filter", "label=tier") == {name}
    assert await _volume_names(daemon, "--filter", f"name={other}") == {other}
    assert {name, other} <= await _volume_names(daemon, "--filter", "driver=local")
    assert await _volume_names(daemon, "--filter", "driver=nfs") == set()
    assert {name, other} <= await _volume_names(daemon, "--filter", "dangling=true")
    code, _, err = await daemon.docker("volume", "ls", "--filter", "colour=red")
    assert code == 1 and "Invalid filter 'colour'" in err

    code, _, err = await daemon.docker("volume", "create", "no/slash")
    assert code == 1
    assert 'create no/slash: "no/slash" includes invalid characters for a local volume name' in err
    code, _, err = await daemon.docker("volume", "create", "a")
    assert code == 1 and "create a: volume name is too short" in err
    code, _, err = await daemon.docker("volume", "create", "--opt", "colour=red", "xy")
    assert code == 1 and 'create xy: invalid option: "colour"' in err
    code, _, err = await daemon.docker("volume", "create", "--opt", "o=size=1m", "xy")
    assert code == 1 and 'create xy: missing required option: "device"' in err
    code, _, err = await daemon.docker("volume", "create", "--opt", "device=tmpfs", "xy")
    assert code == 1 and 'create xy: missing required option: "type"' in err
    code, _, err = await daemon.docker("volume", "ls", "--filter", "dangling=maybe")
    assert code == 1 and "Invalid filter 'dangling=[maybe]'" in err
    code, _, err = await daemon.docker("volume", "create", "-d", "nfsplugin", _name("x"))
    assert code == 1 and 'plugin "nfsplugin" not found' in err

    for volume_name in (name, other, generated["Name"]):
        await daemon.docker_ok("volume", "rm", volume_name)
    assert not _exists(_volumes_dir(daemon) / name)
    code, _, err = await daemon.docker("volume", "inspect", name)
    assert code == 1 and f"get {name}: no such volume" in err
    code, _, err = await daemon.docker("volume", "rm", name)
    assert code == 1 and f"get {name}: no such volume" in err
    # force: a missing volume is no error.
    await daemon.docker_ok("volume", "rm", "-f", name)


async def test_two_containers_share_a_volume_which_cannot_go_while_used(
    daemon: RunningDaemon,
) -> None:
    name = _name("shared")
    writer, reader = _name("writer"), _name("reader")
    # `-v name:/path` makes the volume when it is missing.
    await daemon.docker_ok(
        "run", "--name", writer, "-v", f"{name}:/data", "busybox",
        "sh", "-c", "echo hello > /data/greeting",
    )  # fmt: skip
    out = await daemon.docker_ok(
        "run", "--name", reader, "--mount", f"type=volume,src={name},dst=/in,readonly",
        "busybox", "cat", "/in/greeting",
    )  # fmt: skip
    assert out == "hello\n"
    code, _, err = await daemon.docker(
        "run", "--rm", "-v", f"{name}:/data:ro", "busybox", "touch", "/data/x"
    )
    assert code == 1 and "Read-only file system" in err

    writer_info = await _inspect(daemon, "inspect", writer)
    reader_info = await _inspect(daemon, "inspect", reader)
    source = str(_volumes_dir(daemon) / name / "_data")
    assert writer_info["Mounts"] == [
        {
            "Type": "volume", "Name": name, "Source": source, "Destination": "/data",
            "Driver": "local", "Mode": "z", "RW": True, "Propagation": "",
        }
    ]  # fmt: skip
    assert reader_info["Mounts"] == [
        {
            "Type": "volume", "Name": name, "Source": source, "Destination": "/in",
            "Driver": "local", "Mode": "z", "RW": False, "Propagation": "",
        }
    ]  # fmt: skip
    assert await _volume_names(daemon, "--filter", "dangling=false") >= {name}
    assert name not in await _volume_names(daemon, "--filter", "dangling=true")

    for args in (("volume", "rm", name), ("volume", "rm", "-f", name)):
        code, _, err = await daemon.docker(*args)
        assert code == 1
        assert f"remove {name}: volume is in use - [" in err
        assert writer_info["Id"] in err and reader_info["Id"] in err
    status, _ = await daemon.request("DELETE", f"/volumes/{name}")
    assert status == 409
    assert _read(f"{source}/greeting") == "hello\n"  # nothing was lost

    await daemon.docker_ok("rm", writer, reader)
    await daemon.docker_ok("volume", "rm", name)
    assert not _exists(source)


async def test_prune_removes_unused_volumes_only(daemon: RunningDaemon) -> None:
    used, unused, kept = _name("used"), _name("unused"), _name("kept")
    user = _name("user")
    await daemon.docker_ok("volume", "create", unused)
    await daemon.docker_ok("volume", "create", "--label", "keep=yes", kept)
    await daemon.docker_ok("create", "--name", user, "-v", f"{used}:/data", "busybox", "true")
    _write(_volumes_dir(daemon) / unused / "_data" / "blob", b"x" * 5000)
    # The CLI speaks 1.50: from API 1.42 a prune takes named volumes only with --all.
    out = await daemon.docker_ok("volume", "prune", "-f", "--filter", "label!=keep=yes")
    assert "Deleted Volumes:" not in out and unused in await _volume_names(daemon)
    out = await daemon.docker_ok("volume", "prune", "-a", "-f", "--filter", "label!=keep=yes")
    assert "Deleted Volumes:" in out and unused in out.split()
    assert used not in out and kept not in out
    assert "Total reclaimed space: 5kB" in out
    names = await _volume_names(daemon)
    assert used in names and kept in names and unused not in names
    await daemon.docker_ok("rm", user)
    out = await daemon.docker_ok("volume", "prune", "-a", "-f")
    assert used in out.split() and kept in out.split()
    code, _, err = await daemon.docker("volume", "prune", "-f", "--filter", "colour=red")
    assert code == 1 and "Invalid filter 'colour'" in err


async def test_tmpfs_volume_from_driver_opts(daemon: RunningDaemon) -> None:
    name = _name("tmpfs")
    since = str(int(time.time()))
    await daemon.docker_ok(
        "volume", "create", "--driver", "local", "--opt", "type=tmpfs",
        "--opt", "device=tmpfs", "--opt", "o=size=10m", name,
    )  # fmt: skip
    first = _name("tmpfs-user")
    await daemon.docker_ok(
        "run", "-d", "--name", first, "-v", f"{name}:/scratch", "busybox", "sleep", "300"
    )
    mounts = await daemon.docker_ok("exec", first, "cat", "/proc/mounts")
    line = next(li for li in mounts.splitlines() if li.split()[1] == "/scratch")
    assert line.split()[2] == "tmpfs" and "size=10240k" in line
    await daemon.docker_ok("exec", first, "sh", "-c", "echo kept > /scratch/f")
    # A second container sees the same tmpfs while the first runs.
    out = await daemon.docker_ok("run", "--rm", "-v", f"{name}:/s", "busybox", "cat", "/s/f")
    assert out == "kept\n"
    data = _volumes_dir(daemon) / name / "_data"
    assert _is_mount(data)
    await daemon.docker_ok("rm", "-f", first)
    # The last user gone, the tmpfs goes: its content was memory only.
    assert not _is_mount(data) and os.listdir(data) == []
    # Never pruned, nor counted by system df: it may stand for storage elsewhere.
    await daemon.docker_ok("volume", "prune", "-f")
    assert name in await _volume_names(daemon)
    status, body = await daemon.request("GET", "/system/df")
    assert status == 200
    assert name not in {v["Name"] for v in body["Volumes"]}
    events = await daemon.docker_ok(
        "events", "--since", since, "--until", str(int(time.time()) + 1),
        "--filter", f"volume={name}", "--format", "{{.Action}} {{json .Actor.Attributes}}",
    )  # fmt: skip
    actions = [line.split(" ", 1)[0] for line in events.splitlines()]
    assert actions == ["create", "mount", "mount", "unmount", "unmount"], events
    mount = json.loads(events.splitlines()[1].split(" ", 1)[1])
    assert mount["destination"] == "/scratch" and mount["read/write"] == "true"
    assert set(mount) == {"container", "destination", "driver", "propagation", "read/write"}
    await daemon.docker_ok("volume", "rm", name)


async def test_a_volume_whose_mount_fails_fails_the_start(daemon: RunningDaemon) -> None:
    name, user = _name("nodev"), _name("nodev-user")
    await daemon.docker_ok("volume", "create", "--opt", "type=nosuchfs", "--opt", "device=x", name)
    code, _, err = await daemon.docker("run", "--name", user, "-v", f"{name}:/x", "busybox", "true")
    data = _volumes_dir(daemon) / name / "_data"
    assert code != 0
    assert (
        f"error while mounting volume '{data}': failed to mount local volume: "
        f"mount x:{data}: no such device"
    ) in err
    state = (await _inspect(daemon, "inspect", user))["State"]
    assert state["ExitCode"] == 128 and "no such device" in state["Error"]
    await daemon.docker_ok("rm", user)
    await daemon.docker_ok("volume", "rm", name)


# -- containers' volumes -------------------------------------------------------------------


async def test_image_content_is_copied_into_new_volumes_unless_nocopy(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    image = await _load_volume_image(daemon, tmp_path)
    show = "stat -c '%u:%g %a' /srv/data; cat /srv/data/seed.txt"
    # The image's VOLUME: an anonymous volume with the image's content, owner and mode.
    anon = _name("anon")
    out = await daemon.docker_ok("run", "--name", anon, image, "sh", "-c", show)
    assert out == "1000:1000 750\nfrom the image\n"
    mounts = (await _inspect(daemon, "inspect", anon))["Mounts"]
    assert len(mounts) == 1 and HEX64.match(mounts[0]["Name"])
    assert mounts[0]["Destination"] == "/srv/data" and mounts[0]["Mode"] == ""
    seed = f"{mounts[0]['Source']}/seed.txt"
    assert _read(seed) == "from the image\n"
    assert _owner_and_mode(seed) == (1000, 0o640)

    # A new named volume there is filled the same way.
    named = _name("filled")
    out = await daemon.docker_ok("run", "--rm", "-v", f"{named}:/srv/data", image, "sh", "-c", show)
    assert out == "1000:1000 750\nfrom the image\n"
    # A volume that has content keeps it.
    _write(_volumes_dir(daemon) / named / "_data" / "seed.txt", b"mine\n")
    out = await daemon.docker_ok(
        "run", "--rm", "-v", f"{named}:/srv/data", image, "cat", "/srv/data/seed.txt"
    )
    assert out == "mine\n"

    # nocopy, in both syntaxes: the volume stays empty.
    for volume_args in (
        ["-v", f"{_name('bare')}:/srv/data:nocopy"],
        ["--mount", f"type=volume,src={_name('bare')},dst=/srv/data,volume-nocopy"],
    ):
        out = await daemon.docker_ok("run", "--rm", *volume_args, image, "ls", "-A", "/srv/data")
        assert out == ""
    # --mount's volume-opt and volume-label make the volume with them.
    opted = _name("opted")
    await daemon.docker_ok(
        "run", "--rm", "--mount",
        f"type=volume,src={opted},dst=/m,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"
        "volume-label=made=by-run",
        "busybox", "true",
    )  # fmt: skip
    volume = await _inspect(daemon, "volume", "inspect", opted)
    assert volume["Options"] == {"type": "tmpfs", "device": "tmpfs"}
    assert volume["Labels"] == {"made": "by-run"}
    await daemon.docker_ok("rm", "-v", anon)


async def test_volumes_and_copy_up_cost_no_containerd_rpc(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    """create and rm keep their budget (2 RPCs each) with volumes and a copy-up."""
    image = await _load_volume_image(daemon, tmp_path)
    client = daemon.services.client
    assert client is not None
    before = dict(client.rpc_counts())
    cid = (await daemon.docker_ok("create", "-v", f"{_name('b')}:/b", image, "true")).strip()
    assert count_delta(before, dict(client.rpc_counts())) == {
        "Snapshots.Prepare": 1,
        "Containers.Create": 1,
    }
    before = dict(client.rpc_counts())
    await daemon.docker_ok("rm", "-v", cid)
    assert count_delta(before, dict(client.rpc_counts())) == {
        "Containers.Delete": 1,
        "Snapshots.Remove": 1,
    }


async def test_cp_of_a_stopped_container_reaches_its_volumes(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    name, user = _name("cp"), _name("cp-user")
    await daemon.docker_ok(
        "run", "--name", user, "-v", f"{name}:/data", "busybox",
        "sh", "-c", "echo in-volume > /data/f",
    )  # fmt: skip
    await daemon.docker_ok("cp", f"{user}:/data/f", str(tmp_path / "out"))
    assert _read(tmp_path / "out") == "in-volume\n"
    _write(tmp_path / "in", b"copied in\n")
    await daemon.docker_ok("cp", str(tmp_path / "in"), f"{user}:/data/in")
    assert _read(_volumes_dir(daemon) / name / "_data" / "in") == "copied in\n"
    # Nothing left mounted: the volume goes, and so does the container.
    await daemon.docker_ok("rm", user)
    await daemon.docker_ok("volume", "rm", name)
    # Into the anonymous volume of a container never started (its mount point is made).
    fresh = _name("cp-fresh")
    await daemon.docker_ok("create", "--name", fresh, "-v", "/vol1", "busybox", "cat", "/vol1/in")
    await daemon.docker_ok("cp", str(tmp_path / "in"), f"{fresh}:/vol1/in")
    assert await daemon.docker_ok("start", "-a", fresh) == "copied in\n"
    await daemon.docker_ok("rm", "-v", fresh)


async def test_rm_v_removes_anonymous_volumes_only(daemon: RunningDaemon) -> None:
    name, named = _name("anon"), _name("named")
    await daemon.docker_ok(
        "create", "--name", name, "-v", "/scratch", "-v", f"{named}:/named", "busybox", "true"
    )
    mounts = {m["Destination"]: m for m in (await _inspect(daemon, "inspect", name))["Mounts"]}
    anonymous = mounts["/scratch"]["Name"]
    assert HEX64.match(anonymous) and mounts["/named"]["Name"] == named
    volume = await _inspect(daemon, "volume", "inspect", anonymous)
    assert volume["Labels"] is None  # dockerd 20.10 marks no anonymous volume
    await daemon.docker_ok("rm", "-v", name)
    names = await _volume_names(daemon)
    assert anonymous not in names and named in names
    # Without -v the anonymous volume stays.
    await daemon.docker_ok("create", "--name", name, "-v", "/scratch", "busybox", "true")
    left = (await _inspect(daemon, "inspect", name))["Mounts"][0]["Name"]
    await daemon.docker_ok("rm", name)
    assert left in await _volume_names(daemon)
    await daemon.docker_ok("volume", "rm", left, named)
    # --rm removes them too, as dockerd's AutoRemove does.
    before = await _volume_names(daemon)
    await daemon.docker_ok("run", "--rm", "-v", "/scratch", "busybox", "true")
    assert await _volume_names(daemon) == before


async def test_system_df_shows_volume_usage(daemon: RunningDaemon) -> None:
    name, user = _name("df"), _name("df-user")
    await daemon.docker_ok(
        "run", "--name", user, "-v", f"{name}:/d", "busybox",
        "sh", "-c", "head -c 20000 /dev/zero > /d/f",
    )  # fmt: skip
    status, body = await daemon.request("GET", "/system/df")
    assert status == 200
    volume = next(v for v in body["Volumes"] if v["Name"] == name)
    assert volume["UsageData"] == {"Size": 20000, "RefCount": 1}
    out = await daemon.docker_ok("system", "df", "-v")
    line = next(li for li in out.splitlines() if li.startswith(name))
    assert line.split()[1:] == ["1", "20kB"]
    await daemon.docker_ok("rm", user)
    await daemon.docker_ok("volume", "rm", name)


# -- restarts -----------------------------------------------------------------------------


async def test_volumes_and_their_users_survive_a_daemon_restart(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    async with running_daemon(containerd, busybox_image) as first:
        await first.docker_ok(
            "run", "--name", "keeper", "-v", "kept:/data", "busybox",
            "sh", "-c", "echo before > /data/f",
        )  # fmt: skip
        await first.docker_ok("volume", "create", "--label", "a=b", "spare")
        await first.docker_ok(
            "volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "memory"
        )
        # Running across the restart, its tmpfs volume mounted.
        await first.docker_ok(
            "run", "-d", "--name", "runner", "-v", "memory:/m", "busybox",
            "sh", "-c", "echo live > /m/f; exec sleep 300",
        )  # fmt: skip
        keeper = (await _inspect(first, "inspect", "keeper"))["Id"]
        data_root = first.services.config.data_root
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        assert {"kept", "spare"} <= await _volume_names(second)
        assert (await _inspect(second, "volume", "inspect", "spare"))["Labels"] == {"a": "b"}
        # Still referenced by the container after the restart.
        code, _, err = await second.docker("volume", "rm", "kept")
        assert code == 1 and f"remove kept: volume is in use - [{keeper}]" in err
        assert await _volume_names(second, "--filter", "dangling=true") == {"spare"}
        memory = data_root / "volumes" / "memory" / "_data"
        assert _is_mount(memory)
        out = await second.docker_ok("run", "--rm", "-v", "memory:/m", "busybox", "cat", "/m/f")
        assert out == "live\n"
        # Still counted as the runner's: the other container's end left it mounted.
        assert _is_mount(memory)
        await second.docker_ok("rm", "-f", "runner")
        assert not _is_mount(memory)
        await second.docker_ok("volume", "rm", "memory")
        out = await second.docker_ok("start", "-a", "keeper")
        out = await second.docker_ok("run", "--rm", "-v", "kept:/d", "busybox", "cat", "/d/f")
        assert out == "before\n"
        await second.docker_ok("rm", "keeper")
        await second.docker_ok("volume", "rm", "kept", "spare")
