"""`docker cp` both ways with the real docker CLI, running and stopped containers alike."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import json
import os
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from daemon.container.model import Status
from tests.support.daemon import RunningDaemon


@pytest.fixture
def sdk(daemon: RunningDaemon) -> Iterator[Any]:
    client = docker.DockerClient(base_url=daemon.host, version="1.41")
    try:
        yield client
    finally:
        client.close()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> content ("<dir>" / "-> target") of everything under ``root``."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[rel] = "<dir>"
        else:
            found[rel] = path.read_text()
    return found


def _on_host(*names: str) -> bool:
    """Whether any of ``names`` exists in the host's root directory (an escape)."""
    return any(os.path.lexists(f"/{name}") for name in names)


def _sample_dir(base: Path) -> Path:
    source = base / "src"
    (source / "sub" / "deeper").mkdir(parents=True)
    (source / "top.txt").write_text("top\n")
    (source / "sub" / "mid.txt").write_text("middle\n")
    (source / "sub" / "deeper" / "leaf.txt").write_text("leaf\n" * 10000)
    (source / "sub" / "link").symlink_to("mid.txt")
    (source / "exec.sh").write_text("#!/bin/sh\necho hi\n")
    (source / "exec.sh").chmod(0o750)
    return source


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, 0o644
    return info


async def _both_ways(daemon: RunningDaemon, container: str, tmp_path: Path) -> None:
    """A file and a directory into ``container`` and back out again, contents intact."""
    source = _sample_dir(tmp_path)
    await daemon.docker_ok("cp", str(source / "top.txt"), f"{container}:/tmp/")
    await daemon.docker_ok("cp", str(source), f"{container}:/tmp/tree")
    back = tmp_path / "back"
    back.mkdir()
    await daemon.docker_ok("cp", f"{container}:/tmp/top.txt", str(back / "file.txt"))
    await daemon.docker_ok("cp", f"{container}:/tmp/tree", str(back / "tree"))
    assert (back / "file.txt").read_text() == "top\n"
    assert _tree(back / "tree") == _tree(source)
    assert (back / "tree" / "exec.sh").stat().st_mode & 0o777 == 0o750
    # "dir/." copies the directory's content into an existing directory.
    (back / "content").mkdir()
    await daemon.docker_ok("cp", f"{container}:/tmp/tree/sub/.", str(back / "content"))
    assert sorted(p.name for p in (back / "content").iterdir()) == ["deeper", "link", "mid.txt"]


async def test_cp_both_ways_running_container(daemon: RunningDaemon, tmp_path: Path) -> None:
    name = _name("cp-run")
    await daemon.docker_ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    try:
        await _both_ways(daemon, name, tmp_path)
        out = await daemon.docker_ok("exec", name, "cat", "/tmp/tree/sub/mid.txt", "/tmp/top.txt")
        assert out == "middle\ntop\n"
        out = await daemon.docker_ok("exec", name, "busybox", "readlink", "/tmp/tree/sub/link")
        assert out == "mid.txt\n"
        # The container's own mounts are seen: /etc/hostname is the daemon's bind mount.
        hostname = await daemon.docker_ok("exec", name, "cat", "/etc/hostname")
        await daemon.docker_ok("cp", f"{name}:/etc/hostname", str(tmp_path / "hostname"))
        assert (tmp_path / "hostname").read_text() == hostname
    finally:
        await daemon.docker("rm", "-f", name)


async def test_cp_both_ways_created_container(daemon: RunningDaemon, tmp_path: Path) -> None:
    name = _name("cp-created")
    await daemon.docker_ok("create", "--name", name, "busybox", "cat", "/tmp/top.txt", "/tmp/extra")
    try:
        await _both_ways(daemon, name, tmp_path)
        (tmp_path / "extra").write_text("extra\n")
        await daemon.docker_ok("cp", str(tmp_path / "extra"), f"{name}:/tmp/extra")
        # What was copied into the never-started container is there when it runs.
        out = await daemon.docker_ok("start", "-a", name)
        assert out == "top\nextra\n"
    finally:
        await daemon.docker("rm", "-f", name)


async def test_cp_both_ways_exited_container(daemon: RunningDaemon, tmp_path: Path) -> None:
    name = _name("cp-exited")
    await daemon.docker_ok("run", "--name", name, "busybox", "sh", "-c", "echo made > /made.txt")
    try:
        await daemon.docker_ok("cp", f"{name}:/made.txt", str(tmp_path / "made.txt"))
        assert (tmp_path / "made.txt").read_text() == "made\n"
        await _both_ways(daemon, name, tmp_path)
        # The temporary rootfs mount is gone: the container starts again as usual.
        out = await daemon.docker_ok("start", "-a", name)
        assert out == ""
        code, out, err = await daemon.docker("run", "--rm", "busybox", "true")
        assert code == 0, err
    finally:
        await daemon.docker("rm", "-f", name)
    assert not list((daemon.services.config.exec_root / "rootfs").glob("*"))


async def test_ownership_from_archive_or_container_user(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    name = _name("cp-owner")
    command = "stat -c '%u:%g %a' /tmp/as-is /tmp/as-user"
    await daemon.docker_ok(
        "create", "--name", name, "--user", "nobody", "busybox", "sh", "-c", command
    )
    try:
        (tmp_path / "as-is").write_text("x")
        os.chown(tmp_path / "as-is", 1234, 555)
        (tmp_path / "as-is").chmod(0o4755)  # after chown, which clears set-id bits
        (tmp_path / "as-user").write_text("y")
        # The archive's owner by default; with -a (copyUIDGID) the container's user.
        await daemon.docker_ok("cp", str(tmp_path / "as-is"), f"{name}:/tmp/")
        await daemon.docker_ok("cp", "-a", str(tmp_path / "as-user"), f"{name}:/tmp/")
        out = await daemon.docker_ok("start", "-a", name)
        assert out == "1234:555 4755\n65534:65534 644\n"
    finally:
        await daemon.docker("rm", "-f", name)


async def test_a_passwd_copied_in_before_the_start_is_the_one_read(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    # Create builds the spec while Snapshots.Prepare is in flight, from the image's layers
    # as the last create on it showed them, and the first start keeps it unless what it
    # read changed: a passwd copied into the new container's upper directory did.
    first, second = _name("cp-pw"), _name("cp-pw")
    await daemon.docker_ok("create", "--name", first, "busybox", "true")
    await daemon.docker_ok("create", "--name", second, "--user", "nobody", "busybox", "id", "-u")
    try:
        await daemon.docker_ok("cp", f"{second}:/etc/passwd", str(tmp_path / "passwd"))
        lines = (tmp_path / "passwd").read_text().splitlines()
        edited = [
            ":".join([f[0], f[1], "4242", *f[3:]]) if f[0] == "nobody" else line
            for line in lines
            for f in [line.split(":")]
        ]
        (tmp_path / "passwd").write_text("\n".join(edited) + "\n")
        await daemon.docker_ok("cp", str(tmp_path / "passwd"), f"{second}:/etc/passwd")
        assert await daemon.docker_ok("start", "-a", second) == "4242\n"
    finally:
        await daemon.docker("rm", "-f", first, second)


async def test_cp_to_and_from_stdout_tar(daemon: RunningDaemon, tmp_path: Path) -> None:
    name = _name("cp-stream")
    await daemon.docker_ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    try:
        archive = _tar(
            [(_member("streamed.txt"), b"via stdin\n"), (_member("d", tarfile.DIRTYPE), None)]
        )
        await daemon.docker_ok("cp", "-", f"{name}:/tmp", stdin=archive)
        assert await daemon.docker_ok("exec", name, "cat", "/tmp/streamed.txt") == "via stdin\n"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_HOST"] = daemon.host
        proc = await asyncio.create_subprocess_exec(
            "docker", "cp", f"{name}:/tmp/streamed.txt", "-",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, err
        with tarfile.open(fileobj=io.BytesIO(out)) as tar:
            members = tar.getmembers()
            assert [m.name for m in members] == ["streamed.txt"]
            extracted = tar.extractfile(members[0])
            assert extracted is not None and extracted.read() == b"via stdin\n"
    finally:
        await daemon.docker("rm", "-f", name)


async def test_symlink_escapes_stay_inside(daemon: RunningDaemon, tmp_path: Path) -> None:
    marker = f"moorage-escape-{uuid.uuid4().hex[:8]}"
    name = _name("cp-escape")
    setup = (
        "ln -s / /tmp/rootlink; ln -s ../../../../../../../.. /tmp/up;"
        " ln -s /etc/passwd /tmp/pw; ln -s /nowhere/at/all /tmp/dangling; exec sleep 300"
    )
    await daemon.docker_ok("run", "-d", "--name", name, "busybox", "sh", "-c", setup)
    try:
        await daemon.wait_for_path(name, "/tmp/dangling", "-L")  # the last link made
        (tmp_path / marker).write_text("inside\n")
        # Writing through absolute and climbing links lands in the container's root.
        await daemon.docker_ok("cp", str(tmp_path / marker), f"{name}:/tmp/rootlink/")
        await daemon.docker_ok("cp", str(tmp_path / marker), f"{name}:/tmp/up/{marker}.2")
        assert not _on_host(marker, f"{marker}.2")
        out = await daemon.docker_ok("exec", name, "cat", f"/{marker}", f"/{marker}.2")
        assert out == "inside\ninside\n"

        # Reading through a link: without -L the link itself, with -L the container's file.
        await daemon.docker_ok("cp", f"{name}:/tmp/pw", str(tmp_path / "pw-link"))
        assert os.readlink(tmp_path / "pw-link") == "/etc/passwd"
        await daemon.docker_ok("cp", "-L", f"{name}:/tmp/pw", str(tmp_path / "pw"))
        inside = await daemon.docker_ok("exec", name, "cat", "/etc/passwd")
        assert (tmp_path / "pw").read_text() == inside
        await daemon.docker_ok("cp", f"{name}:/tmp/up/etc/passwd", str(tmp_path / "pw2"))
        assert (tmp_path / "pw2").read_text() == inside

        # An archive whose own symlink points out, then a member written through it.
        archive = _tar(
            [
                (_member("evil", tarfile.SYMTYPE, "/"), None),
                (_member(f"evil/{marker}.3"), b"through the link\n"),
                (_member("climb", tarfile.SYMTYPE, "../../../../../../.."), None),
                (_member(f"climb/{marker}.4"), b"climbed\n"),
            ]
        )
        await daemon.docker_ok("cp", "-", f"{name}:/tmp", stdin=archive)
        assert not _on_host(f"{marker}.3", f"{marker}.4")
        out = await daemon.docker_ok("exec", name, "cat", f"/{marker}.3", f"/{marker}.4")
        assert out == "through the link\nclimbed\n"
        # The archive's links themselves are created as they are.
        assert await daemon.docker_ok("exec", name, "busybox", "readlink", "/tmp/evil") == "/\n"

        # A member named to climb out of the extraction directory is refused.
        code, _, err = await daemon.docker(
            "cp", "-", f"{name}:/tmp", stdin=_tar([(_member(f"../../{marker}.5"), b"x")])
        )
        assert code == 1 and "is outside of" in err
        assert not _on_host(f"{marker}.5")
    finally:
        await daemon.docker("rm", "-f", name)


async def test_symlink_escapes_stay_inside_stopped_container(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    marker = f"moorage-escape-{uuid.uuid4().hex[:8]}"
    name = _name("cp-escape-stopped")
    await daemon.docker_ok("run", "--name", name, "busybox", "ln", "-s", "/", "/rootlink")
    try:
        (tmp_path / marker).write_text("stopped\n")
        await daemon.docker_ok("cp", str(tmp_path / marker), f"{name}:/rootlink/")
        assert not _on_host(marker)
        await daemon.docker_ok("cp", f"{name}:/rootlink/{marker}", str(tmp_path / "out"))
        assert (tmp_path / "out").read_text() == "stopped\n"
        await daemon.docker_ok("cp", "-L", f"{name}:/rootlink/etc/passwd", str(tmp_path / "pw"))
        assert (tmp_path / "pw").read_text().startswith("root:x:0:0:")
    finally:
        await daemon.docker("rm", "-f", name)


async def test_missing_paths_and_containers(daemon: RunningDaemon, tmp_path: Path) -> None:
    name = _name("cp-missing")
    await daemon.docker_ok("create", "--name", name, "busybox", "true")
    try:
        code, _, err = await daemon.docker("cp", f"{name}:/no/such/file", str(tmp_path))
        assert code == 1
        assert f"Could not find the file /no/such/file in container {name}" in err
        (tmp_path / "f").write_text("x")
        code, _, err = await daemon.docker("cp", str(tmp_path / "f"), f"{name}:/no/such/f")
        assert code == 1
        assert f"Could not find the file /no/such in container {name}" in err
        code, _, err = await daemon.docker("cp", str(tmp_path / "f"), "nosuchcontainer:/tmp")
        assert code == 1 and "No such container: nosuchcontainer" in err
        code, _, err = await daemon.docker("cp", "nosuchcontainer:/etc", str(tmp_path))
        assert code == 1 and "No such container: nosuchcontainer" in err
    finally:
        await daemon.docker("rm", "-f", name)


def _stat_header(response: Any) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(
        base64.b64decode(response.headers["X-Docker-Container-Path-Stat"])
    )
    return decoded


async def test_archive_api_details(daemon: RunningDaemon, sdk: Any) -> None:
    name = _name("cp-api")
    await daemon.docker_ok("run", "-d", "--name", name, "busybox", "sh", "-c",
              "ln -s /etc /etclink; exec sleep 300")  # fmt: skip
    try:
        await daemon.wait_for_path(name, "/etclink", "-L")
        api = sdk.api

        def head(path: str) -> Any:
            return api.head(api._url("/containers/{0}/archive", name), params={"path": path})

        response = await asyncio.to_thread(head, "/etc")
        assert response.status_code == 200
        etc = _stat_header(response)
        assert etc["name"] == "etc" and etc["mode"] == (1 << 31) | 0o755
        assert etc["mtime"].endswith("Z") and etc["linkTarget"] == ""
        link = _stat_header(await asyncio.to_thread(head, "/etclink"))
        assert link["mode"] & (1 << 27) and link["linkTarget"] == "/etc"
        # A trailing slash asks for where the link leads.
        assert _stat_header(await asyncio.to_thread(head, "/etclink/"))["mode"] & (1 << 31)
        response = await asyncio.to_thread(head, "/missing")
        assert response.status_code == 404

        # gzip-compressed upload; extracting onto a file is refused.
        gz = gzip.compress(_tar([(_member("zipped.txt"), b"gz\n")]))
        assert await asyncio.to_thread(api.put_archive, name, "/tmp", gz)
        assert await daemon.docker_ok("exec", name, "cat", "/tmp/zipped.txt") == "gz\n"
        with pytest.raises(docker.errors.APIError) as info:
            await asyncio.to_thread(api.put_archive, name, "/etc/hostname", gz)
        assert info.value.status_code == 400
        assert "extraction point is not a directory" in str(info.value)

        # GET: the stat header and a tar of the directory named after the path asked for.
        def get(path: str) -> tuple[bytes, dict[str, Any]]:
            stream, stat = api.get_archive(name, path)
            return b"".join(stream), stat

        data, stat = await asyncio.to_thread(get, "/etclink/")
        assert stat["name"] == "etclink"
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            names = tar.getnames()
        assert "etclink" in names and "etclink/passwd" in names
        data, stat = await asyncio.to_thread(get, "/")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            names = tar.getnames()
        assert "/bin/sh" in names and "/etc/passwd" in names
        # /proc of the running container is a mount point only, its content left out.
        assert "/proc" in names and not any(n.startswith("/proc/") for n in names)
    finally:
        await daemon.docker("rm", "-f", name)


async def test_removing_container_conflicts(daemon: RunningDaemon, tmp_path: Path) -> None:
    name = _name("cp-rm")
    await daemon.docker_ok("create", "--name", name, "busybox", "true")
    # Caught mid-removal: the state remove puts a container in while it deletes it.
    live = daemon.services.daemon.get(name)
    live.model.state.status = Status.REMOVING
    try:
        code, _, err = await daemon.docker("cp", f"{name}:/etc/passwd", str(tmp_path))
        assert code == 1 and "marked for removal" in err
    finally:
        live.model.state.status = Status.CREATED
        await daemon.docker("rm", "-f", name)
