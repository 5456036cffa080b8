"""mooraged itself with a --tlsverify TCP listener: the docker CLI runs containers over it,
attached, with stdin (whose end is a TLS close_notify, see api/tls.py)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.support.certs import issue, make_ca
from tests.support.containerd import ImportedImage, TestContainerd, sweep
from tests.support.daemon import docker_env
from tests.support.mooraged import Mooraged


@pytest_asyncio.fixture(loop_scope="session")
async def workdir() -> AsyncIterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tls-"))
    try:
        yield path
    finally:
        await asyncio.to_thread(sweep, str(path))


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def docker_tcp(
    address: str, config: Path, *args: str, stdin: bytes | None = None
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "docker", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        env=docker_env(address, config=config),
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_container_runs_over_tlsverify(
    containerd: TestContainerd, busybox_image: ImportedImage, workdir: Path
) -> None:
    pki = workdir / "pki"
    pki.mkdir()
    ca = make_ca(pki, "ca")
    server, client = issue(ca, pki, "server", server=True), issue(ca, pki, "client", server=False)
    address = f"tcp://127.0.0.1:{free_loopback_port()}"
    daemon = Mooraged(
        workdir / "d", containerd.address, f"tls-{secrets.token_hex(4)}",
        extra_args=("-H", address, "--tlsverify", "--tlscacert", str(ca.cert),
                    "--tlscert", str(server.cert), "--tlskey", str(server.key)),
    )  # fmt: skip
    (workdir / "d").mkdir()
    await daemon.start()
    try:
        code, out, err = await daemon.docker("load", "-i", str(busybox_image.archive))
        assert code == 0, out + err
        tls = ["--tlsverify", "--tlscacert", str(ca.cert), "--tlscert", str(client.cert),
               "--tlskey", str(client.key)]  # fmt: skip
        code, out, err = await docker_tcp(
            address, workdir / "cli", *tls, "run", "--rm", "busybox", "echo", "over tls"
        )
        assert (code, out) == (0, "over tls\n"), err
        # stdin ends with a close_notify (the CLI's half-close); the output still comes.
        code, out, err = await docker_tcp(
            address, workdir / "cli", *tls, "run", "-i", "--rm", "busybox", "cat",
            stdin=b"line one\nline two\n",
        )  # fmt: skip
        assert (code, out) == (0, "line one\nline two\n"), err
        code, out, _ = await docker_tcp(address, workdir / "cli", "ps")
        assert code != 0 and out == ""
    finally:
        await daemon.stop()
