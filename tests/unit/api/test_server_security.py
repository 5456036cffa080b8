"""Who may reach the API: the unix socket's owner and mode, TLS on TCP, no exposed plain TCP.

The docker CLI is the client; a one-route app stands in for the daemon (listeners do not
depend on what the routes do).
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import logging
import os
import socket
import ssl
import stat
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from api.limits import ServerLimits
from api.server import (
    ApiServer,
    UnixSocketOwner,
    make_app,
    serve,
    server_tls_context,
)
from daemon.config import ConfigError, load_config
from mooraged.main import check_listeners, tls_context
from tests.support.certs import Issued, issue, make_ca
from tests.support.daemon import docker_env
from tests.support.mooraged import MOORAGED

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534"]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Short (unix socket paths are limited) and traversable by nobody.
    directory = Path(tempfile.mkdtemp(prefix="msec", dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    subprocess.run(["rm", "-rf", str(directory)], check=False)


async def _version(_: web.Request) -> web.Response:
    return web.json_response({"ApiVersion": "1.41", "Version": "test", "Os": "linux"})


def app_with_version() -> web.Application:
    app = make_app()
    app.router.add_get("/version", _version)
    return app


@pytest.fixture
async def unix_server(short_dir: Path) -> AsyncIterator[tuple[ApiServer, Path]]:
    path = short_dir / "api.sock"
    server = await serve(app_with_version(), [f"unix://{path}"])
    try:
        yield server, path
    finally:
        await server.close()


async def docker(
    host: str, *args: str, user: list[str] | None = None, config: Path | None = None
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *(user or []), "docker", *args, "version", "--format", "{{.Server.APIVersion}}",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=docker_env(host, config=config),
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_socket_is_0660_root_and_docker_group(unix_server: tuple[ApiServer, Path]) -> None:
    _, path = unix_server
    info = os.stat(path)
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o660
    assert (info.st_uid, info.st_gid) == (0, grp.getgrnam("docker").gr_gid)
    assert [p.name for p in path.parent.iterdir()] == ["api.sock"]  # no temporary left


async def test_user_outside_the_group_is_refused_and_a_member_gets_in(
    unix_server: tuple[ApiServer, Path], short_dir: Path
) -> None:
    _, path = unix_server
    config = short_dir / "cli"
    config.mkdir(mode=0o777)
    config.chmod(0o777)
    outsider = [*NOBODY, "--clear-groups"]
    code, out, err = await docker(f"unix://{path}", user=outsider, config=config)
    assert code != 0 and out.strip() == ""
    assert "permission denied" in err
    member = [*NOBODY, f"--groups={grp.getgrnam('docker').gr_gid}"]
    code, out, err = await docker(f"unix://{path}", user=member, config=config)
    assert (code, out) == (0, "1.41\n"), err


async def test_named_group_owns_the_socket_and_a_missing_one(
    short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = short_dir / "g.sock"
    server = await serve(make_app(), [f"unix://{path}"], socket_owner=UnixSocketOwner("nogroup"))
    try:
        assert os.stat(path).st_gid == grp.getgrnam("nogroup").gr_gid
    finally:
        await server.close()
    # Named by the user (-G) and missing: an error, and no socket.
    with pytest.raises(ValueError, match="group no-such-group not found"):
        await serve(make_app(), [f"unix://{path}"],
                    socket_owner=UnixSocketOwner("no-such-group", required=True))  # fmt: skip
    assert not path.exists()
    # The default group missing: root's group and a warning, as dockerd.
    with caplog.at_level(logging.WARNING, logger="api.server"):
        server = await serve(make_app(), [f"unix://{path}"],
                             socket_owner=UnixSocketOwner("no-such-group"))  # fmt: skip
    try:
        assert os.stat(path).st_gid == 0
        assert "group no-such-group not found" in caplog.text
    finally:
        await server.close()


async def test_live_socket_is_refused_and_keeps_answering(
    unix_server: tuple[ApiServer, Path],
) -> None:
    server, path = unix_server
    inode = os.stat(path).st_ino
    with pytest.raises(FileExistsError, match="another daemon answers on it"):
        await serve(make_app(), [f"unix://{path}"])
    assert os.stat(path).st_ino == inode
    code, out, err = await docker(f"unix://{path}")
    assert (code, out) == (0, "1.41\n"), err
    assert server.addresses == [str(path)]


async def test_stale_socket_is_replaced_and_only_our_own_file_removed(short_dir: Path) -> None:
    path = short_dir / "api.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a dead daemon's file: nobody listens
    server = await serve(app_with_version(), [f"unix://{path}"])
    code, out, err = await docker(f"unix://{path}")
    assert (code, out) == (0, "1.41\n"), err
    # Someone else's socket now at the path (a new daemon): closing leaves it alone.
    path.unlink()
    other = socket.socket(socket.AF_UNIX)
    other.bind(str(path))
    try:
        await server.close()
        assert path.exists()
    finally:
        other.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Issued]:
    directory = tmp_path_factory.mktemp("pki")
    ca, other_ca = make_ca(directory, "ca"), make_ca(directory, "other-ca")
    return {
        "ca": ca,
        "server": issue(ca, directory, "server", server=True),
        "client": issue(ca, directory, "client", server=False),
        "stranger": issue(other_ca, directory, "stranger", server=False),
    }


@pytest.fixture
async def tls_server(pki: dict[str, Issued]) -> AsyncIterator[str]:
    context = server_tls_context(
        str(pki["server"].cert), str(pki["server"].key), str(pki["ca"].cert), verify=True
    )
    server = await serve(app_with_version(), ["tcp://127.0.0.1:0"], tls=context)
    try:
        (address,) = server.addresses
        yield f"tcp://{address}"
    finally:
        await server.close()


async def test_tlsverify_accepts_a_client_signed_by_the_ca(
    tls_server: str, pki: dict[str, Issued], tmp_path: Path
) -> None:
    ca, client = pki["ca"], pki["client"]
    code, out, err = await docker(
        tls_server, "--tlsverify", "--tlscacert", str(ca.cert), "--tlscert", str(client.cert),
        "--tlskey", str(client.key), config=tmp_path,
    )  # fmt: skip
    assert (code, out) == (0, "1.41\n"), err


async def test_tlsverify_refuses_no_certificate_and_another_cas(
    tls_server: str, pki: dict[str, Issued], tmp_path: Path
) -> None:
    ca, stranger = pki["ca"], pki["stranger"]
    code, out, err = await docker(
        tls_server, "--tlsverify", "--tlscacert", str(ca.cert), config=tmp_path
    )
    assert code != 0 and out.strip() == "", err
    # TLS 1.3: the server's refusal comes after the handshake; Go reports the closed stream.
    assert any(word in err for word in ("EOF", "certificate", "tls:")), err
    code, out, err = await docker(
        tls_server, "--tlsverify", "--tlscacert", str(ca.cert), "--tlscert", str(stranger.cert),
        "--tlskey", str(stranger.key), config=tmp_path,
    )  # fmt: skip
    assert code != 0 and out.strip() == "", err
    # TLS 1.3: the server's refusal comes after the handshake; Go reports the closed stream.
    assert any(word in err for word in ("EOF", "certificate", "tls:")), err
    # Plain HTTP gets no API either.
    code, out, err = await docker(tls_server, config=tmp_path)
    assert code != 0 and out.strip() == "", err


def test_plain_tcp_on_a_non_loopback_address_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "daemon.json"
    empty.write_text("{}")
    base = ["--config-file", str(empty), "--bridge", "none"]

    def checked(*args: str) -> list[str]:
        config = load_config([*base, *args])
        check_listeners(config)
        return config.hosts

    for host in ["tcp://0.0.0.0:2375", "tcp://:2375", "tcp://192.0.2.1:2375", "tcp://[::]:2375"]:
        with pytest.raises(ConfigError, match=r"refusing to listen on .* without TLS"):
            checked("-H", host)
    for host in ["tcp://127.0.0.1:2375", "tcp://localhost:2375", "tcp://[::1]:2375"]:
        assert checked("-H", host) == [host]
    assert checked("-H", "tcp://0.0.0.0:2375", "--allow-insecure-tcp")
    with pytest.raises(ConfigError, match="could not load the TLS certificates"):
        checked("-H", "tcp://0.0.0.0:2375", "--tlsverify", "--tlscert", str(tmp_path / "x.pem"))


def test_tlsverify_config_loads_the_certificates(pki: dict[str, Issued], tmp_path: Path) -> None:
    empty = tmp_path / "daemon.json"
    empty.write_text(
        json.dumps({"tlscacert": str(pki["ca"].cert), "tlscert": str(pki["server"].cert),
                    "tlskey": str(pki["server"].key), "tlsverify": True})
    )  # fmt: skip
    config = load_config(["--config-file", str(empty), "-H", "tcp://0.0.0.0:2376"])
    assert config.tls and config.tlsverify
    check_listeners(config)
    context = tls_context(config)
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED


def test_mooraged_with_exposed_plain_tcp_exits_at_start(tmp_path: Path) -> None:
    empty = tmp_path / "daemon.json"
    empty.write_text("{}")
    # It must stop at its configuration: it never gets to containerd or to listening.
    proc = subprocess.run(
        [*MOORAGED, "-H", "tcp://0.0.0.0:2375", "--bridge", "none",
         "--config-file", str(empty), "--data-root", str(tmp_path / "data"),
         "--exec-root", str(tmp_path / "exec")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "refusing to listen on tcp://0.0.0.0:2375 without TLS" in proc.stderr
    assert "--allow-insecure-tcp" in proc.stderr
    assert not (tmp_path / "data").exists()


def test_daemon_json_security_settings(tmp_path: Path) -> None:
    config_file = tmp_path / "daemon.json"
    config_file.write_text('{"no-new-privileges": true, "group": "nogroup"}')
    config = load_config(["--config-file", str(config_file), "--bridge", "none"])
    assert (config.no_new_privileges, config.group, config.group_given) == (True, "nogroup", True)
    config_file.write_text("{}")
    config = load_config(["--config-file", str(config_file), "--no-new-privileges"])
    assert (config.no_new_privileges, config.group, config.group_given) == (True, "docker", False)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_tls_connections_leave_no_descriptor_behind(
    tls_server: str, pki: dict[str, Issued]
) -> None:
    host, port = tls_server.removeprefix("tcp://").rsplit(":", 1)
    client = ssl.create_default_context(cafile=str(pki["ca"].cert))
    client.load_cert_chain(str(pki["client"].cert), str(pki["client"].key))
    stranger = ssl.create_default_context(cafile=str(pki["ca"].cert))
    before = _open_fds()
    for round_no in range(20):
        # Good clients that ping, and clients refused for their certificate, alternately.
        good = round_no % 2 == 0
        reader, writer = await asyncio.open_connection(
            host, int(port), ssl=client if good else stranger, server_hostname="127.0.0.1"
        )
        try:
            writer.write(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = await asyncio.wait_for(reader.read(4096), 5)
            assert reply.startswith(b"HTTP/1.1 200") == good
        except (ssl.SSLError, ConnectionError):
            assert not good
        finally:
            writer.close()
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                await writer.wait_closed()
    # Each side of each relay is closed once its peer is gone (poll with a deadline).
    async with asyncio.timeout(10):
        while _open_fds() > before:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_a_tls_client_that_never_finishes_its_handshake_is_dropped(
    pki: dict[str, Issued],
) -> None:
    context = server_tls_context(
        str(pki["server"].cert), str(pki["server"].key), str(pki["ca"].cert), verify=True
    )
    app = make_app(limits=ServerLimits(head_timeout=0.5))
    server = await serve(app, ["tcp://127.0.0.1:0"], tls=context)
    try:
        host, port = server.addresses[0].rsplit(":", 1)
        # Connected, but not a byte of the handshake: closed once the head timeout passed.
        reader, writer = await asyncio.open_connection(host, int(port))
        started = asyncio.get_running_loop().time()
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        assert asyncio.get_running_loop().time() - started >= 0.45
        writer.close()
    finally:
        await server.close()
