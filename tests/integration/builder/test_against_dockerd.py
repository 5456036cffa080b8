"""The every-instruction build on mooraged and on dockerd 20.10, same context, same
containerd: the images' configs, their history, their files and what they print must agree.

dockerd runs as the benchmark runs it (bench/engines.py: its own namespace and
roots, no bridge, iptables or sysctl touched); the test is skipped where no
dockerd binary is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bench.engines import Engine, HostFootprint, dockerd
from tests.integration.builder.support import docker_build
from tests.support.buildcontexts import every_instruction_files, write_context
from tests.support.commands import run_command
from tests.support.containerd import TestContainerd
from tests.support.daemon import RunningDaemon, docker_env
from tests.support.images import write_docker_save

pytestmark = pytest.mark.skipif(shutil.which("dockerd") is None, reason="no dockerd installed")

# The image config fields the issue names, plus those a build also sets.
FIELDS = (
    "Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Labels", "Volumes",
    "Healthcheck", "StopSignal", "OnBuild", "Shell",
)  # fmt: skip
# What the built image's files look like: name, mode, owner, size, type.
# Both daemons are asked at dockerd 20.10's newest API version, so image inspect has the
# same fields on both (1.45 dropped ContainerConfig).
API_VERSION = "1.41"
LIST_FILES = "find /srv /opt | sort | xargs stat -c '%n %a %u:%g %s %F'"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def reference(containerd: TestContainerd) -> AsyncIterator[Engine]:
    footprint = HostFootprint()
    workdir = Path(tempfile.mkdtemp(prefix="build-dockerd-", dir=containerd.workdir))
    engine = dockerd(workdir, containerd.address, shutil.which("dockerd") or "dockerd")
    try:
        await engine.start()
        image = workdir / "busybox.tar"
        write_docker_save(image)
        await cli(engine.host, workdir, "load", "-i", str(image))
        yield engine
    finally:
        await engine.stop()
        footprint.restore()


async def cli(host: str, workdir: Path, *args: str) -> str:
    env = docker_env(host, config=workdir / "cfg", api_version=API_VERSION)
    result = await run_command(["docker", *args], env=env)
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result.stdout


def steps(out: str) -> list[str]:
    """The stream without IDs and dockerd's own warnings: what each step printed."""
    found = []
    for line in out.splitlines():
        if "[Warning]" in line or line.startswith(("Sending build context", "Successfully")):
            continue
        found.append(re.sub(r"[0-9a-f]{12}", "<id>", line))
    return found


def history(text: str) -> list[str]:
    # COPY/ADD name their sources by a checksum each builder computes its own way.
    return [
        re.sub(r"(file|dir|multi):[0-9a-f]{64}", r"\1:<sum>", line) for line in text.splitlines()
    ]


async def built(
    host: str, workdir: Path, context: Path, tag: str, *args: str, runs: bool = True
) -> dict[str, Any]:
    code, out, err = await docker_build(
        host, workdir / "cfg", context, "-t", tag, *args, api_version=API_VERSION
    )
    assert code == 0, out + err
    inspected = json.loads(await cli(host, workdir, "image", "inspect", tag))[0]
    found = {
        "steps": steps(out),
        "config": {key: inspected["Config"].get(key) for key in FIELDS},
        "container_config": {key: inspected["ContainerConfig"].get(key) for key in FIELDS},
        "author": inspected["Author"],
        "layers": len(inspected["RootFS"]["Layers"]),
        "history": history(
            await cli(host, workdir, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
        ),
    }
    if runs:
        found["run"] = await cli(host, workdir, "run", "--rm", tag)
        found["files"] = await cli(
            host, workdir, "run", "--rm", "--user", "0", "--entrypoint", "sh", tag, "-c",
            LIST_FILES,
        )  # fmt: skip
    return found


async def test_every_instruction_builds_the_same_image_as_dockerd(
    daemon: RunningDaemon, reference: Engine, tmp_path: Path
) -> None:
    context = write_context(tmp_path / "ctx", every_instruction_files())
    ours = await built(daemon.host, daemon.socket.parent, context, "build-test/every:1")
    theirs = await built(reference.host, tmp_path, context, "build-test/every:1")
    for key in theirs:
        assert ours[key] == theirs[key], key
    assert ours["config"]["Healthcheck"]["Interval"] == 5_000_000_000  # not vacuous
    assert "/srv/app/bin/app.sh 755 0:0" in ours["files"]


async def test_first_stage_as_target_has_the_same_files_as_dockerd(
    daemon: RunningDaemon, reference: Engine, tmp_path: Path
) -> None:
    """--target, COPY --chown of a directory and ADD's unpacking of a local archive."""
    context = write_context(tmp_path / "ctx", every_instruction_files())
    tag, args = "build-test/tools:1", ("--target", "tools", "--build-arg", "GREETING=hi")
    ours = await built(daemon.host, daemon.socket.parent, context, tag, *args)
    theirs = await built(reference.host, tmp_path, context, tag, *args)
    for key in theirs:
        assert ours[key] == theirs[key], key
    assert "/opt/tools/data/sub/two.txt 644 1000:1000" in ours["files"]


async def test_onbuild_triggers_run_in_the_child_build_as_on_dockerd(
    daemon: RunningDaemon, reference: Engine, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": b"FROM busybox\nONBUILD COPY hi.txt /srv/\nONBUILD RUN echo t > /t\n",
            "child.Dockerfile": b"FROM build-test/onbuild:parent\nCMD cat /srv/hi.txt /t\n",
            "hi.txt": b"hi\n",
        },
    )
    results = []
    for host, workdir in ((daemon.host, daemon.socket.parent), (reference.host, tmp_path)):
        await built(host, workdir, context, "build-test/onbuild:parent", runs=False)
        results.append(
            await built(
                host,
                workdir,
                context,
                "build-test/onbuild:child",
                "-f",
                str(context / "child.Dockerfile"),
            )
        )
    ours, theirs = results
    for key in theirs:
        assert ours[key] == theirs[key], key
    assert "# Executing 2 build triggers" in ours["steps"]
    assert ours["run"] == "hi\nt\n"


async def test_from_scratch_as_on_dockerd(
    daemon: RunningDaemon, reference: Engine, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": (
                b"FROM scratch\nENV A=1\nWORKDIR /w\nCOPY f.txt sub/\nLABEL l=v\n"
                b'CMD ["/w/sub/f.txt"]\n'
            ),
            "f.txt": b"data\n",
        },
    )
    ours = await built(daemon.host, daemon.socket.parent, context, "build-test/s:1", runs=False)
    theirs = await built(reference.host, tmp_path, context, "build-test/s:1", runs=False)
    # dockerd makes a container with an empty rootfs for a step on scratch before any
    # file is there; moorage commits such steps without one (it has no image to make
    # it from yet), so their `Running in`/`Removing` lines are the only difference.
    container_lines = (" ---> Running in", "Removing intermediate container")
    for found in (ours, theirs):
        found["steps"] = [line for line in found["steps"] if not line.startswith(container_lines)]
    for key in theirs:
        assert ours[key] == theirs[key], key


async def test_copy_into_a_volume_keeps_the_files_as_on_dockerd(
    daemon: RunningDaemon, reference: Engine, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": (
                b"FROM busybox\nVOLUME /srv/app\nCOPY f.txt /srv/app/sub/\n"
                b"RUN echo lost > /srv/app/run.txt\nCMD find /srv | sort\n"
            ),
            "f.txt": b"kept\n",
        },
    )
    ours = await built(daemon.host, daemon.socket.parent, context, "build-test/vol:1")
    theirs = await built(reference.host, tmp_path, context, "build-test/vol:1")
    for key in theirs:
        assert ours[key] == theirs[key], key
    assert ours["run"] == "/srv\n/srv/app\n/srv/app/sub\n/srv/app/sub/f.txt\n"
