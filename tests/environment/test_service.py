"""What the `tests` service of the root docker-compose.yml runs against its `moorage`
service: the README's curl examples and a short integration pass with the docker SDK
(containers, logs, exec, a shared named volume, a user network with name resolution, a
published port reached from this container over the environment's network).

MOORAGE_ENV_SOCKET names the moorage service's API socket and MOORAGE_ENV_HOST its host
name on the environment's network; without them (everywhere but in that service) the
module is skipped. scripts/compose-env.sh brings the environment up and runs it.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

from tests.integration.curl.test_readme import run_readme_curl_examples
from tests.support.images import write_docker_save
from wire.api_versions import CURRENT_API_VERSION, MIN_API_VERSION

SOCKET = os.environ.get("MOORAGE_ENV_SOCKET", "")
SERVICE_HOST = os.environ.get("MOORAGE_ENV_HOST", "moorage")
DEADLINE = 20.0
PORT = 18092
HTTPD = (
    "mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"
)

pytestmark = pytest.mark.skipif(
    not SOCKET, reason="run by the tests service of the root docker-compose.yml"
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[docker.DockerClient]:
    """An SDK client on the service's socket, with the tests' busybox loaded into it."""
    engine = docker.DockerClient(base_url=f"unix://{SOCKET}", version="1.41", timeout=60)
    archive: Path = tmp_path_factory.mktemp("images") / "busybox.tar"
    write_docker_save(archive, ["busybox:latest"])
    engine.images.load(archive.read_bytes())
    yield engine
    engine.close()


def _until(check: Callable[[], bool], what: str) -> None:
    """Poll `check()` until true (the SDK has no wait for these), within DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"not within {DEADLINE:g}s: {what}"
        time.sleep(0.1)


def test_the_service_answers(client: docker.DockerClient) -> None:
    assert client.ping()
    # The daemon's own range, whatever version the client speaks (pinned to 1.41 here).
    version = client.version()
    assert (version["ApiVersion"], version["MinAPIVersion"]) == (
        str(CURRENT_API_VERSION),
        str(MIN_API_VERSION),
    )
    assert client.info()["Name"]


async def test_readme_curl_examples(client: docker.DockerClient) -> None:
    await run_readme_curl_examples(SOCKET)
    assert client.containers.list(all=True) == []  # the examples clean up after themselves


def test_run_logs_exec(client: docker.DockerClient) -> None:
    container: Container = client.containers.run(
        "busybox", ["sh", "-c", "echo hello from the environment; exec sleep 60"], detach=True
    )
    try:
        _until(lambda: b"hello from the environment" in container.logs(), "the log line")
        code, out = container.exec_run(["cat", "/etc/hostname"])
        assert (code, out.decode().strip()) == (0, container.id[:12])
    finally:
        container.remove(force=True)


def test_a_named_volume_shared_by_two_containers(client: docker.DockerClient) -> None:
    volume = client.volumes.create("envdata", labels={"from": "environment"})
    try:
        client.containers.run(
            "busybox", ["sh", "-c", "echo kept > /data/file"], volumes=["envdata:/data"],
            remove=True,
        )  # fmt: skip
        read = client.containers.run(
            "busybox", ["cat", "/data/file"], volumes=["envdata:/data:ro"], remove=True
        )
        assert read == b"kept\n"
    finally:
        volume.remove()


def test_a_user_network_by_name_and_a_published_port(client: docker.DockerClient) -> None:
    network = client.networks.create("envnet")
    server: Container = client.containers.run(
        "busybox", ["sh", "-c", HTTPD], name="envweb", network="envnet",
        ports={"80/tcp": PORT}, detach=True,
    )  # fmt: skip
    try:
        fetched = client.containers.run(
            "busybox", ["sh", "-c", "until wget -qO- http://envweb/; do sleep 0.1; done"],
            network="envnet", remove=True,
        )  # fmt: skip
        assert fetched == f"hello from {server.id[:12]}\n".encode()
        # The published port, from this container, through the moorage service's address.
        url = f"http://{SERVICE_HOST}:{PORT}/"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.read() == fetched
    finally:
        server.remove(force=True)
        network.remove()
