"""Listeners: unix sockets (mode, stale files) and TCP."""

import asyncio
import os
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from api.server import DEFAULT_UNIX_SOCKET, _parse_host, make_app, serve
from tests.unit.api.support import read_response, request_bytes


@pytest.fixture
def short_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="msrv", dir="/tmp"))


async def ping_unix(path: str) -> bytes:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(request_bytes("GET", "/_ping"))
    reply = await asyncio.wait_for(read_response(reader), 5)
    writer.close()
    return reply.body


async def test_unix_socket_is_created_with_mode_0660(short_dir: Path) -> None:
    path = short_dir / "sub" / "dir" / "api.sock"
    server = await serve(make_app(), [f"unix://{path}"])
    try:
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o660
        assert await ping_unix(str(path)) == b"OK"
        assert server.addresses == [str(path)]
    finally:
        await server.close()
    assert not path.exists()


async def test_stale_socket_is_replaced(short_dir: Path) -> None:
    path = short_dir / "api.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    server = await serve(make_app(), [f"unix://{path}"])
    try:
        assert await ping_unix(str(path)) == b"OK"
    finally:
        await server.close()


async def test_a_regular_file_in_the_way_is_not_removed(short_dir: Path) -> None:
    path = short_dir / "api.sock"
    path.write_text("precious")
    with pytest.raises(FileExistsError):
        await serve(make_app(), [f"unix://{path}"])
    assert path.read_text() == "precious"


async def test_tcp_listener() -> None:
    server = await serve(make_app(), ["tcp://127.0.0.1:0"])
    try:
        (address,) = server.addresses
        host, port = address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request_bytes("HEAD", "/_ping"))
        reply = await asyncio.wait_for(read_response(reader, "HEAD"), 5)
        writer.close()
        assert reply.headers["Api-Version"] == "1.56"
    finally:
        await server.close()


def test_parse_host() -> None:
    assert _parse_host("unix:///run/x.sock") == ("unix", "/run/x.sock")
    assert _parse_host("unix://") == ("unix", DEFAULT_UNIX_SOCKET)
    assert _parse_host("tcp://0.0.0.0:2375") == ("tcp", "0.0.0.0:2375")
    assert _parse_host("tcp://127.0.0.1") == ("tcp", "127.0.0.1:2375")
    assert _parse_host("tcp://[::1]:1234") == ("tcp", "[::1]:1234")
    # Socket activation: every socket handed over, or the one at a descriptor.
    assert _parse_host("fd://") == ("fd", "")
    assert _parse_host("fd://3") == ("fd", "3")
    with pytest.raises(ValueError):
        _parse_host("ssh://host")
    with pytest.raises(ValueError):
        _parse_host("/var/run/docker.sock")
