"""The docker SDK's `images.build` and docker-compose's `build:` against mooraged's
classic builder."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.integration.sdk.test_sdk import off_loop, sdk
from tests.support.buildcontexts import files_tar, write_context
from tests.support.commands import Result, run_command
from tests.support.daemon import RunningDaemon, docker_env

__all__ = ["sdk"]

DOCKERFILE = b"""\
FROM busybox
COPY greeting.txt /
RUN echo "built by $(whoami)" > /by.txt
CMD ["cat", "/greeting.txt", "/by.txt"]
"""


async def test_sdk_build_from_a_custom_context(sdk: docker.DockerClient) -> None:
    fileobj = io.BytesIO(
        files_tar({"Dockerfile": DOCKERFILE, "greeting.txt": b"hello sdk\n"}, gzip=True)
    )
    image, logs = await off_loop(
        sdk.images.build,
        fileobj=fileobj,
        custom_context=True,
        encoding="gzip",
        tag="build-test/sdk:custom",
        rm=True,
    )
    streamed = "".join(str(entry.get("stream", "")) for entry in logs)
    assert "Step 1/4 : FROM busybox\n" in streamed
    assert f"Successfully built {image.short_id.removeprefix('sha256:')}\n" in streamed
    assert "build-test/sdk:custom" in image.tags
    out = await off_loop(sdk.containers.run, image.id, remove=True)
    assert out == b"hello sdk\nbuilt by root\n"


async def test_sdk_build_from_a_path_and_a_failing_one(
    sdk: docker.DockerClient, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx",
        {"Dockerfile": DOCKERFILE, "greeting.txt": b"hello path\n", ".dockerignore": b"*.tmp\n"},
    )
    (context / "junk.tmp").write_text("left out by the SDK and the daemon\n")
    image, _ = await off_loop(sdk.images.build, path=str(context), tag="build-test/sdk:path")
    out = await off_loop(sdk.containers.run, image.id, remove=True)
    assert out == b"hello path\nbuilt by root\n"

    (context / "Dockerfile").write_bytes(b"FROM busybox\nRUN exit 5\n")
    with pytest.raises(docker.errors.BuildError) as failed:
        await off_loop(sdk.images.build, path=str(context), forcerm=True)
    assert failed.value.msg == "The command '/bin/sh -c exit 5' returned a non-zero code: 5"


# --- compose ------------------------------------------------------------------------

PROJECT = """\
version: "3.8"
services:
  app:
    build:
      context: ./app
      args:
        FLAVOUR: compose
    image: build-test/compose-app:latest
    network_mode: "none"
    command: ["cat", "/flavour.txt"]
"""


async def _compose(daemon: RunningDaemon, project: Path, *args: str) -> Result:
    env = docker_env(daemon.host)
    # Compose 1.29 builds through its own docker-py (the classic builder), not the CLI.
    env.update(COMPOSE_DOCKER_CLI_BUILD="0", DOCKER_BUILDKIT="0")
    env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    argv = ["docker-compose", "-p", "buildtest", "-f", str(project / "docker-compose.yml")]
    return await run_command([*argv, *args], env=env, timeout=180)


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="installed by setup.sh")
async def test_compose_build_and_up_build(daemon: RunningDaemon, tmp_path: Path) -> None:
    write_context(
        tmp_path,
        {
            "docker-compose.yml": PROJECT.encode(),
            "app/Dockerfile": b'FROM busybox\nARG FLAVOUR\nRUN echo "$FLAVOUR v1" > /flavour.txt\n',
        },
    )
    built = await _compose(daemon, tmp_path, "build")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Successfully tagged build-test/compose-app:latest" in built.stdout + built.stderr
    run = await daemon.docker_ok(
        "run", "--rm", "build-test/compose-app:latest", "cat", "/flavour.txt"
    )
    assert run == "compose v1\n"

    (tmp_path / "app/Dockerfile").write_bytes(
        b'FROM busybox\nARG FLAVOUR\nRUN echo "$FLAVOUR v2" > /flavour.txt\n'
    )
    try:
        up = await _compose(daemon, tmp_path, "up", "--build", "--abort-on-container-exit")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "compose v2" in up.stdout
    finally:
        down = await _compose(daemon, tmp_path, "down")
        assert down.returncode == 0, down.stderr
