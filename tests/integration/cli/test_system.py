"""`docker system df`, `docker volume`, `docker export` and `docker diff` with the real CLI."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import uuid

from tests.support.daemon import RunningDaemon, docker_env


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _docker_bytes(daemon: RunningDaemon, *args: str) -> bytes:
    """The docker CLI's stdout as bytes (an archive is no text)."""
    proc = await asyncio.create_subprocess_exec(
        "docker",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=docker_env(daemon.host, config=daemon.socket.parent / "docker-config"),
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out


async def _tar_t(daemon: RunningDaemon, container: str) -> list[str]:
    """`docker export c | tar t`: the real CLI piped into the real tar."""
    proc = await asyncio.create_subprocess_shell(
        f"docker export {container} | tar t",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=docker_env(daemon.host, config=daemon.socket.parent / "docker-config"),
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode().splitlines()


# -- docker system df ---------------------------------------------------------------------


async def test_system_df_counts_images_and_container_changes(daemon: RunningDaemon) -> None:
    name = _name("df")
    await daemon.docker_ok(
        "run", "--name", name, "busybox", "sh", "-c", "head -c 300000 /dev/zero > /big"
    )
    out = await daemon.docker_ok("system", "df")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert out.splitlines()[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert set(rows) == {"Images", "Containers", "Local", "Build"}
    assert int(rows["Images"][1]) >= 1 and int(rows["Images"][2]) >= 1
    assert int(rows["Containers"][1]) >= 1
    assert rows["Local"][2:4] == ["0", "0"]

    status, body = await daemon.request("GET", "/system/df")
    assert status == 200
    assert body["Volumes"] == [] and body["BuildCache"] == []
    busybox = next(i for i in body["Images"] if "busybox:latest" in (i["RepoTags"] or []))
    # Other tests' images may share busybox's layer: it is then shared, whole.
    assert busybox["Containers"] >= 1 and busybox["SharedSize"] in (0, busybox["Size"])
    assert body["LayersSize"] >= busybox["Size"] > 0
    mine = next(c for c in body["Containers"] if c["Names"] == [f"/{name}"])
    assert mine["State"] == "exited"
    # The 300 kB file, plus the empty mount points runc made.
    assert mine["SizeRw"] == 300_000
    assert mine["SizeRootFs"] == mine["SizeRw"] + busybox["Size"]

    verbose = await daemon.docker_ok("system", "df", "-v")
    assert "Images space usage:" in verbose and "Containers space usage:" in verbose
    line = next(li for li in verbose.splitlines() if li.rstrip().endswith(name))
    assert "300kB" in line.split()
    image_line = next(li for li in verbose.splitlines() if li.startswith("busybox "))
    assert image_line.split()[1] == "latest"
    await daemon.docker_ok("rm", name)


# -- docker volume ------------------------------------------------------------------------


async def test_volume_ls_is_empty_and_prune_reclaims_nothing(daemon: RunningDaemon) -> None:
    out = await daemon.docker_ok("volume", "ls")
    assert out.split() == ["DRIVER", "VOLUME", "NAME"]
    assert await daemon.request("GET", "/volumes") == (200, {"Volumes": [], "Warnings": None})
    out = await daemon.docker_ok("volume", "prune", "-f")
    assert "Total reclaimed space: 0B" in out
    # dockerd 20.10 answers an empty list when nothing went.
    status, body = await daemon.request("POST", "/volumes/prune")
    assert (status, body) == (200, {"VolumesDeleted": [], "SpaceReclaimed": 0})


# -- docker export ------------------------------------------------------------------------


async def test_export_running_container_holds_its_rootfs_only(daemon: RunningDaemon) -> None:
    name = _name("export")
    await daemon.docker_ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    await daemon.docker_ok("exec", name, "sh", "-c", "echo written > /made-here")
    names = await _tar_t(daemon, name)
    assert "bin/busybox" in names and "made-here" in names
    assert "bin/" in names and "etc/passwd" in names
    # Relative names, no root entry, and the kernel's filesystems are not in it.
    assert not any(n.startswith(("/", "./")) for n in names)
    assert "proc/" in names and not any(n.startswith("proc/") and n != "proc/" for n in names)
    assert not any(n.startswith("sys/") and n != "sys/" for n in names)
    await daemon.docker_ok("rm", "-f", name)
    # The read-only view was unmounted and its directory removed.
    exports = daemon.services.config.exec_root / "rootfs"
    assert not any(p.startswith("export-") for p in os.listdir(exports))


async def test_export_stopped_container(daemon: RunningDaemon) -> None:
    name = _name("export")
    await daemon.docker_ok(
        "run", "--name", name, "busybox", "sh", "-c", "echo kept > /note; rm /bin/cat"
    )
    data = await _docker_bytes(daemon, "export", name)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = {m.name: m for m in archive.getmembers()}
        note = archive.extractfile(members["note"])
        assert note is not None and note.read() == b"kept\n"
    assert members["bin"].isdir() and members["bin/busybox"].isfile()
    assert "bin/cat" not in members  # deleted in the container
    code, _, err = await daemon.docker("export", "nosuch")
    assert code == 1 and "No such container: nosuch" in err
    await daemon.docker_ok("rm", name)


# -- docker diff --------------------------------------------------------------------------


async def test_diff_lists_added_deleted_and_changed(daemon: RunningDaemon) -> None:
    name = _name("diff")
    await daemon.docker_ok(
        "run",
        "--name",
        name,
        "busybox",
        "sh",
        "-c",
        "touch /newfile; rm /bin/cat; echo x >> /etc/passwd",
    )
    out = await daemon.docker_ok("diff", name)
    # Parents first; the mount points runc created (/etc/hosts...) are not changes.
    assert out.splitlines() == ["C /bin", "D /bin/cat", "C /etc", "C /etc/passwd", "A /newfile"]
    await daemon.docker_ok("rm", name)


async def test_diff_of_fresh_and_running_containers(daemon: RunningDaemon) -> None:
    fresh = _name("diff")
    await daemon.docker_ok("create", "--name", fresh, "busybox")
    assert await daemon.docker_ok("diff", fresh) == ""
    assert await daemon.request("GET", f"/containers/{fresh}/changes") == (200, None)

    running = _name("diff")
    await daemon.docker_ok("run", "-d", "--name", running, "busybox", "sleep", "300")
    assert await daemon.docker_ok("diff", running) == ""
    await daemon.docker_ok(
        "exec", running, "sh", "-c", "mkdir -p /tmp/a/b && touch /tmp/a/b/f && chmod 755 /root"
    )
    out = await daemon.docker_ok("diff", running)
    assert out.splitlines() == ["C /root", "C /tmp", "A /tmp/a", "A /tmp/a/b", "A /tmp/a/b/f"]
    status, body = await daemon.request("GET", f"/containers/{running}/changes")
    assert status == 200 and {"Path": "/tmp/a", "Kind": 1} in body
    await daemon.docker_ok("rm", "-f", running, fresh)


async def test_diff_of_a_directory_made_again(daemon: RunningDaemon) -> None:
    """A removed and re-made directory (opaque in overlayfs): its old content is deleted."""
    name = _name("diff")
    bb = "/busybox"  # busybox runs the applet its first argument names
    script = f"cp /bin/busybox {bb} && {bb} rm -rf /bin && {bb} mkdir /bin && {bb} touch /bin/new"
    await daemon.docker_ok("run", "--name", name, "busybox", "sh", "-c", script)
    lines = (await daemon.docker_ok("diff", name)).splitlines()
    assert (lines[0], lines[-1]) == ("C /bin", "A /busybox")
    assert {"D /bin/busybox", "D /bin/cat", "A /bin/new"} <= set(lines)
    assert all(line.startswith(("D /bin/", "A /bin/new")) for line in lines[1:-1])
    await daemon.docker_ok("rm", name)


async def test_diff_of_unknown_container(daemon: RunningDaemon) -> None:
    code, _, err = await daemon.docker("diff", "nosuch")
    assert code == 1 and "No such container: nosuch" in err
    status, body = await daemon.request("GET", "/containers/nosuch/changes")
    assert (status, body) == (404, {"message": "No such container: nosuch"})


async def test_ps_size(daemon: RunningDaemon) -> None:
    await daemon.docker_ok(
        "run", "--name", "sized", "busybox", "sh", "-c", "head -c 300000 /dev/zero > /blob"
    )
    out = await daemon.docker_ok(
        "ps", "-a", "-s", "--filter", "name=sized", "--format", "{{.Size}}"
    )
    # "300kB (virtual 2.3MB)": the writable layer first, then with the image.
    assert out.startswith("300kB (virtual ")
    await daemon.docker_ok("rm", "sized")
