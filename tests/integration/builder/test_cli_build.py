"""`DOCKER_BUILDKIT=0 docker build` against mooraged: the classic builder's stream, the
images it makes, the cache, failures, and what runs from the result."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from pathlib import Path

import aiohttp

from tests.integration.builder.support import docker_build
from tests.support.buildcontexts import every_instruction_files, files_tar, write_context
from tests.support.commands import run_command
from tests.support.containerd import ImportedImage, TestContainerd, count_delta
from tests.support.daemon import RunningDaemon, docker_env, running_daemon
from tests.support.registry import Registry


async def build(daemon: RunningDaemon, context: Path, *args: str) -> tuple[int, str, str]:
    return await docker_build(daemon.host, daemon.socket.parent / "docker-config", context, *args)


def steps_with_cache(out: str) -> list[str]:
    """The `Step n/m : ...` lines followed by ` ---> Using cache`."""
    lines = out.splitlines()
    return [
        line for line, nxt in itertools.pairwise(lines)
        if line.startswith("Step ") and nxt == " ---> Using cache"
    ]  # fmt: skip


async def test_single_stage_build_runs_and_sets_config(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": (
                b"FROM busybox\n"
                b"ENV GREETING=hello\n"
                b"WORKDIR /app\n"
                b"COPY hello.txt ./\n"
                b'RUN echo "$GREETING from run" > /app/run.txt && echo to-stderr >&2\n'
                b'CMD ["cat", "/app/hello.txt", "/app/run.txt"]\n'
            ),
            "hello.txt": b"hi from the context\n",
        },
    )
    code, out, err = await build(daemon, context, "-t", "build-test/simple:1")
    assert code == 0, out + err
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("Step ")] == [
        "Step 1/6 : FROM busybox",
        "Step 2/6 : ENV GREETING=hello",
        "Step 3/6 : WORKDIR /app",
        "Step 4/6 : COPY hello.txt ./",
        'Step 5/6 : RUN echo "$GREETING from run" > /app/run.txt && echo to-stderr >&2',
        'Step 6/6 : CMD ["cat", "/app/hello.txt", "/app/run.txt"]',
    ]
    run_at = lines.index(
        'Step 5/6 : RUN echo "$GREETING from run" > /app/run.txt && echo to-stderr >&2'
    )
    assert lines[run_at + 1].startswith(" ---> Running in ")
    assert "\x1b[91mto-stderr\n\x1b[0m" in out  # stderr, coloured as the classic builder does
    image_id = lines[-2].removeprefix("Successfully built ")
    assert lines[-1] == "Successfully tagged build-test/simple:1"
    run = await daemon.docker_ok("run", "--rm", "build-test/simple:1")
    assert run == "hi from the context\nhello from run\n"
    inspected = json.loads(await daemon.docker_ok("image", "inspect", "build-test/simple:1"))[0]
    assert inspected["Id"].removeprefix("sha256:").startswith(image_id)
    assert inspected["Config"]["WorkingDir"] == "/app"
    assert inspected["Config"]["Cmd"] == ["cat", "/app/hello.txt", "/app/run.txt"]
    assert "GREETING=hello" in inspected["Config"]["Env"]
    # Intermediate containers were removed (rm is the CLI's default).
    assert (await daemon.docker_ok("ps", "-aq")).strip() == ""
    # The steps' images are listed with -a only, as dockerd lists its intermediate images.
    steps = [line.removeprefix(" ---> ") for line in lines if line.startswith(" ---> ")]
    intermediate = {step for step in steps if len(step) == 12 and step != image_id}
    assert len(intermediate) == 5  # the base image, then one per step but the last
    listed = set((await daemon.docker_ok("images", "-q")).split())
    listed_all = set((await daemon.docker_ok("images", "-aq")).split())
    assert intermediate & listed == {steps[0]}  # busybox is tagged
    assert intermediate <= listed_all


async def test_rebuild_uses_the_cache_and_a_changed_file_invalidates_from_its_copy(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    files = every_instruction_files()
    context = write_context(tmp_path / "ctx", files)
    code, out, err = await build(daemon, context, "-t", "build-test/cached:1")
    assert code == 0, out + err
    first_id = out.splitlines()[-2]
    client = daemon.services.client
    assert client is not None
    before = dict(client.rpc_counts())
    code, out, err = await build(daemon, context, "-t", "build-test/cached:1")
    assert code == 0, out + err
    delta = count_delta(before, dict(client.rpc_counts()))
    assert "Containers.Create" not in delta and "Tasks.Create" not in delta, delta
    steps = [line for line in out.splitlines() if line.startswith("Step ")]
    # Every step that makes an image came from the cache (ARG before FROM and FROM make none).
    image_steps = [s for s in steps if " : FROM " not in s and not s.startswith("Step 1/")]
    assert steps_with_cache(out) == image_steps
    assert "Running in" not in out
    assert out.splitlines()[-2] == first_id

    (context / "app.sh").write_text(files["app.sh"].decode() + "echo changed\n")
    code, out, err = await build(daemon, context, "-t", "build-test/cached:1")
    assert code == 0, out + err
    cached = steps_with_cache(out)
    changed_at = next(i for i, s in enumerate(image_steps) if "COPY app.sh bin/" in s)
    assert cached == image_steps[:changed_at]
    run = await daemon.docker_ok("run", "--rm", "build-test/cached:1")
    assert run.splitlines()[-1] == "changed"


async def _raw_build(
    daemon: RunningDaemon, context: bytes, **params: str
) -> tuple[int, list[dict[str, object]] | object]:
    connector = aiohttp.UnixConnector(path=str(daemon.socket))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(
            "http://moorage/v1.41/build",
            data=context,
            params=params,
            headers={"Content-Type": "application/x-tar"},
        ) as response,
    ):
        raw = await response.read()
        if response.status != 200:
            return response.status, json.loads(raw)
        return 200, [json.loads(line) for line in raw.splitlines() if line.strip()]


async def test_failing_run_reports_its_exit_code_and_forcerm_leaves_nothing(
    daemon: RunningDaemon, containerd: TestContainerd
) -> None:
    snapshots_before = sorted(await containerd.list_snapshots())
    context = files_tar({"Dockerfile": b"FROM busybox\nRUN echo doomed && exit 3\nCMD true\n"})
    containers_before = (await daemon.docker_ok("ps", "-aq")).split()
    status, messages = await _raw_build(daemon, context, forcerm="1", t="build-test/fails:1")
    assert status == 200 and isinstance(messages, list)
    text = "".join(str(m.get("stream", "")) for m in messages)
    assert "Step 2/3 : RUN echo doomed && exit 3\n" in text
    assert "doomed\n" in text
    assert "Removing intermediate container" in text
    message = "The command '/bin/sh -c echo doomed && exit 3' returned a non-zero code: 3"
    assert messages[-1] == {"errorDetail": {"code": 3, "message": message}, "error": message}
    assert (await daemon.docker_ok("ps", "-aq")).split() == containers_before
    code, _, _ = await daemon.docker("image", "inspect", "build-test/fails:1")
    assert code != 0
    assert sorted(await containerd.list_snapshots()) == snapshots_before
    assert not await containerd.list_tasks()


async def test_failing_run_without_forcerm_keeps_the_container_as_dockerd(
    daemon: RunningDaemon,
) -> None:
    context = files_tar({"Dockerfile": b"FROM busybox\nRUN exit 7\n"})
    before = set((await daemon.docker_ok("ps", "-aq")).split())
    status, messages = await _raw_build(daemon, context)
    assert status == 200 and isinstance(messages, list)
    assert messages[-1]["errorDetail"] == {
        "code": 7,
        "message": "The command '/bin/sh -c exit 7' returned a non-zero code: 7",
    }
    left = set((await daemon.docker_ok("ps", "-aq")).split()) - before
    assert len(left) == 1  # rm removes after success only; the failed step's container stays
    await daemon.docker_ok("rm", *left)


async def test_context_escaping_with_dotdot_or_absolute_names_is_refused(
    daemon: RunningDaemon,
) -> None:
    for name in ("../evil", "/etc/evil", "a/../../evil"):
        context = files_tar({"Dockerfile": b"FROM busybox\n", name: b"x"})
        status, body = await _raw_build(daemon, context)
        assert status == 400, (name, body)
        assert isinstance(body, dict) and "outside of the context" in str(body["message"])


async def test_bad_dockerfiles_are_400_before_any_output(daemon: RunningDaemon) -> None:
    cases = {
        b"FROM busybox\nFOO bar\n": "dockerfile parse error line 2: unknown instruction: FOO",
        b"# only a comment\n": "failed to parse dockerfile: file with no instructions",
        b"FROM busybox\nCOPY --nope=1 a b\n": "dockerfile parse error line 2: Unknown flag: nope",
    }
    for dockerfile, message in cases.items():
        status, body = await _raw_build(daemon, files_tar({"Dockerfile": dockerfile}))
        assert (status, body) == (400, {"message": message})
    status, body = await _raw_build(
        daemon, files_tar({"Dockerfile": b"FROM busybox\n"}), platform="linux/arm64"
    )
    assert status == 400
    status, body = await _raw_build(daemon, files_tar({"other": b"x"}))
    assert (status, body) == (400, {"message": "Cannot locate specified Dockerfile: Dockerfile"})


async def test_dockerignore_target_buildargs_quiet_and_labels(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": (
                b"FROM busybox AS first\n"
                b"ARG WHO=nobody\n"
                b'RUN echo "built by $WHO" > /who.txt\n'
                b"COPY . /ctx/\n"
                b"FROM first AS second\n"
                b"RUN false\n"
            ),
            "keep.txt": b"kept\n",
            "secret.key": b"hidden\n",
            "logs/a.log": b"a\n",
            ".dockerignore": b"*.key\nlogs\n",
        },
    )
    code, out, err = await build(
        daemon,
        context,
        "-q",
        "--target",
        "first",
        "--build-arg",
        "WHO=tests",
        "--build-arg",
        "UNUSED=1",
        "--label",
        "from.cli=yes",
        "-t",
        "build-test/target:1",
    )
    assert code == 0, out + err
    assert out.startswith("sha256:") and len(out.strip()) == 71  # -q: only the ID
    run = await daemon.docker_ok(
        "run", "--rm", "build-test/target:1", "sh", "-c", "cat /who.txt; ls -A /ctx"
    )
    assert run.splitlines() == ["built by tests", ".dockerignore", "Dockerfile", "keep.txt"]
    labels = await daemon.docker_ok(
        "image", "inspect", "-f", "{{json .Config.Labels}}", "build-test/target:1"
    )
    assert json.loads(labels) == {"from.cli": "yes"}
    code, out, err = await build(daemon, context, "--build-arg", "UNUSED=1", "--target", "first")
    assert code == 0
    assert "[Warning] One or more build-args [UNUSED] were not consumed\n" in out


async def test_client_leaving_cancels_the_build_and_its_running_step(
    daemon: RunningDaemon, containerd: TestContainerd
) -> None:
    context = files_tar({"Dockerfile": b"FROM busybox\nRUN echo started && sleep 300\n"})
    before = (await daemon.docker_ok("ps", "-aq")).split()
    connector = aiohttp.UnixConnector(path=str(daemon.socket))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(
            "http://moorage/v1.41/build", data=context, params={"forcerm": "1"}
        ) as response,
    ):
        seen = b""
        async with asyncio.timeout(30):
            while b"started" not in seen:
                seen += await response.content.readany()
        # Leaving here closes the connection in the middle of the RUN.
    async with asyncio.timeout(30):
        while True:
            if (await daemon.docker_ok("ps", "-aq")).split() == before:
                break
            await asyncio.sleep(0.1)  # polling, bounded, for the step's kill and removal
    assert not await containerd.list_tasks()
    assert (await daemon.docker_ok("run", "--rm", "busybox", "echo", "still serving")) == (
        "still serving\n"
    )


async def test_from_an_image_that_needs_pulling_uses_the_registry_config(
    daemon: RunningDaemon, auth_registry: Registry, tmp_path: Path
) -> None:
    remote = f"{auth_registry.host}/build-test/base:1"
    await daemon.docker_ok("tag", "busybox", remote)
    await daemon.docker_ok(
        "login", auth_registry.host, "-u", auth_registry.username, "--password-stdin",
        stdin=auth_registry.password.encode(),
    )  # fmt: skip
    await daemon.docker_ok("push", remote)
    await daemon.docker_ok("rmi", remote)
    context = write_context(
        tmp_path / "ctx",
        {"Dockerfile": f"FROM {remote}\nRUN echo pulled > /p\nCMD cat /p\n".encode()},
    )
    # A CLI without the login sends no credentials: the pull is refused, in the stream.
    code, out, err = await docker_build(daemon.host, tmp_path / "no-login", context)
    assert code == 1
    assert f"Step 1/3 : FROM {remote}\n" in out
    assert "unauthorized" in err or "no basic auth credentials" in err, err
    code, _, _ = await daemon.docker("image", "inspect", remote)
    assert code != 0
    # The logged-in CLI sends X-Registry-Config: the base is pulled, then built on.
    try:
        code, out, err = await build(daemon, context, "-t", "build-test/pulled:1")
        assert code == 0, out + err
        assert "Pulling from build-test/base" in out
        assert await daemon.docker_ok("run", "--rm", "build-test/pulled:1") == "pulled\n"
    finally:
        # The pulled name is another tag of busybox's image, in the namespace other
        # modules share: it goes, so that busybox keeps being listed as busybox.
        await daemon.docker("rmi", "build-test/pulled:1", remote)


async def test_the_cache_survives_a_daemon_restart(
    containerd: TestContainerd, busybox_image: ImportedImage, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx",
        {"Dockerfile": b"FROM busybox\nCOPY f /f\nRUN cat /f > /g\n", "f": b"restart\n"},
    )
    async with running_daemon(containerd, busybox_image) as first:
        code, out, err = await build(first, context, "-t", "build-test/restart:1")
        assert code == 0, out + err
        built = out.splitlines()[-2]
        data_root = first.services.config.data_root
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        code, out, err = await build(second, context, "-t", "build-test/restart:1")
        assert code == 0, out + err
        assert out.count(" ---> Using cache\n") == 2 and "Running in" not in out
        assert out.splitlines()[-2] == built


async def test_network_mode_host_gives_run_steps_the_host_network(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx", {"Dockerfile": b"FROM busybox\nRUN ls /sys/class/net | sort\n"}
    )
    code, out, err = await build(daemon, context, "--network", "none", "--no-cache")
    assert code == 0, out + err
    assert "\nlo\nRemoving intermediate container" in out
    code, out, err = await build(daemon, context, "--network", "host", "--no-cache")
    assert code == 0, out + err
    host_links = sorted(os.listdir("/sys/class/net"))
    assert "\n".join(host_links) + "\nRemoving intermediate container" in out


async def test_copy_from_a_stage_with_a_glob(daemon: RunningDaemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": (
                b"FROM busybox AS make\n"
                b"RUN mkdir -p /out/sub && echo a > /out/a.txt && echo b > /out/b.txt "
                b"&& echo c > /out/c.log && ln -s /etc/hostname /out/link.txt\n"
                b"FROM busybox\n"
                b"COPY --from=make /out/*.txt /got/\n"
                b"CMD ls /got\n"
            ),
        },
    )
    code, out, err = await build(daemon, context, "-t", "build-test/fromglob:1")
    assert code == 0, out + err
    listed = await daemon.docker_ok("run", "--rm", "build-test/fromglob:1")
    assert listed.split() == ["a.txt", "b.txt", "link.txt"]
    context.joinpath("Dockerfile").write_bytes(
        b"FROM busybox AS make\nFROM busybox\nCOPY --from=make /etc/*.none /x/\n"
    )
    code, out, err = await build(daemon, context)
    assert code == 1
    assert "COPY failed: no source files were specified" in err


async def test_resource_options_reach_the_run_steps(daemon: RunningDaemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": (
                b"FROM busybox\n"
                b"RUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                b"/sys/fs/cgroup/cpu/cpu.shares && grep ' /dev/shm ' /proc/mounts "
                b"&& grep built.example /etc/hosts\n"
            )
        },
    )
    code, out, err = await build(
        daemon, context, "--no-cache", "--memory", "64m", "--cpu-shares", "512",
        "--shm-size", "16m", "--add-host", "built.example:10.1.2.3",
    )  # fmt: skip
    assert code == 0, out + err
    assert "\n67108864\n512\n" in out
    assert "size=16384k" in out
    assert "10.1.2.3\tbuilt.example" in out


async def test_rmi_of_a_built_image_deletes_its_steps_as_dockerd(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path / "ctx",
        {"Dockerfile": b"FROM busybox\nENV STEP=1\nRUN echo x > /x\nLABEL rmi=test\n"},
    )
    code, out, err = await build(daemon, context, "--no-cache", "-t", "build-test/rmi:1")
    assert code == 0, out + err
    ids = [line.removeprefix(" ---> ") for line in out.splitlines() if line.startswith(" ---> ")]
    ids = [i for i in ids if len(i) == 12]
    base, steps = ids[0], ids[1:]
    assert len(steps) == 3
    # A step's image has a child: it cannot go on its own.
    code, _, err = await daemon.docker("rmi", steps[0])
    assert code == 1
    assert f"unable to delete {steps[0]} (cannot be forced) - image has dependent child" in err
    out = await daemon.docker_ok("rmi", "build-test/rmi:1")
    deleted = [line.split("sha256:")[1][:12] for line in out.splitlines() if "Deleted:" in line]
    assert deleted[:1] == [steps[-1]]
    assert set(steps) <= set(deleted)
    assert base not in deleted  # busybox keeps its name
    listed = (await daemon.docker_ok("images", "-aq")).split()
    assert not set(steps) & set(listed)


async def test_dockerfile_outside_the_context_and_from_stdin(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    context = write_context(tmp_path / "ctx", {"data.txt": b"d\n"})
    outside = tmp_path / "elsewhere.Dockerfile"
    outside.write_bytes(b"FROM busybox\nCOPY . /ctx/\nCMD ls -A /ctx\n")
    code, out, err = await build(daemon, context, "-f", str(outside), "-t", "build-test/f:1")
    assert code == 0, out + err
    # The CLI sends the file as .dockerfile.<random>, unpadded at the tar's end, and
    # lists it and .dockerignore in a .dockerignore it adds: both go, as dockerd drops them.
    listed = await daemon.docker_ok("run", "--rm", "build-test/f:1")
    assert listed.split() == ["data.txt"]
    env = docker_env(daemon.host, config=daemon.socket.parent / "docker-config")
    env["DOCKER_BUILDKIT"] = "0"
    result = await run_command(
        ["docker", "build", "-t", "build-test/stdin:1", "-"],
        env=env,
        stdin=b"FROM busybox\nRUN echo from-stdin > /s\nCMD cat /s\n",
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert await daemon.docker_ok("run", "--rm", "build-test/stdin:1") == "from-stdin\n"
