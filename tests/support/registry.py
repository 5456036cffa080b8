"""Real registries for tests: Debian's docker-registry (distribution v2).

Two session-wide instances on free loopback ports, each with filesystem storage
in a temporary directory: one open, one behind htpasswd (bcrypt) basic auth.
Both are stopped when the session ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REGISTRY_BINARY = "docker-registry"  # Debian package docker-registry
HTPASSWD_BINARY = "htpasswd"  # Debian package apache2-utils
USERNAME = "alice"
PASSWORD = "s3cret-pw"


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:<port>, the registry domain as references spell it
    storage: Path  # the filesystem driver's root directory
    username: str = ""
    password: str = ""

    def blob_data_path(self, digest: str) -> Path:
        """Where the filesystem driver keeps a blob's bytes (for corrupting it on purpose)."""
        hex_digest = digest.split(":", 1)[1]
        return (
            self.storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} not found: install the Debian package {package} (scripts/setup.sh)")
    return path


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"docker-registry exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"docker-registry did not answer on {url}:\n{log.read_text()[-2000:]}")


def _run_registry(workdir: Path, *, auth: bool) -> Iterator[Registry]:
    binary = _require(REGISTRY_BINARY, "docker-registry")
    port = free_port()
    storage = workdir / "storage"
    storage.mkdir()
    auth_section = ""
    if auth:
        htpasswd = _require(HTPASSWD_BINARY, "apache2-utils")
        entry = subprocess.run(
            [htpasswd, "-Bbn", USERNAME, PASSWORD], check=True, capture_output=True
        ).stdout
        (workdir / "htpasswd").write_bytes(entry)
        auth_section = (
            f"auth:\n  htpasswd:\n    realm: moorage-test\n    path: {workdir / 'htpasswd'}\n"
        )
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: moorage-test-secret\n" + auth_section
    )
    log = workdir / "registry.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/v2/", process, log)
        yield Registry(
            host=f"127.0.0.1:{port}",
            storage=storage,
            username=USERNAME if auth else "",
            password=PASSWORD if auth else "",
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    with tempfile.TemporaryDirectory(prefix="moorage-registry-") as workdir:
        yield from _run_registry(Path(workdir), auth=False)


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[Registry]:
    with tempfile.TemporaryDirectory(prefix="moorage-registry-auth-") as workdir:
        yield from _run_registry(Path(workdir), auth=True)
