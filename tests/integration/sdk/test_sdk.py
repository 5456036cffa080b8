"""The docker SDK for Python (``docker`` on PyPI) against mooraged.

The SDK is synchronous and the daemon runs on this test's event loop, so every
SDK call runs in a worker thread (``asyncio.to_thread``); a direct call would
block the loop the daemon needs to answer it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import docker
import docker.errors
import pytest
import pytest_asyncio
from docker.models.containers import Container
from docker.utils.socket import frames_iter

from tests.support.containerd import TestContainerd
from tests.support.daemon import RunningDaemon

T = TypeVar("T")
# Generous, but bounded: a daemon that never answers fails the test instead of hanging it.
CLIENT_TIMEOUT = 60


# "auto" negotiates (the daemon's newest, 1.56); the others are pinned: the oldest
# moorage serves, the first with per-endpoint MAC addresses, and the SDK's own newest.
SDK_VERSIONS = ["auto", "1.24", "1.44", docker.constants.DEFAULT_DOCKER_API_VERSION]
ADVERTISED = "1.56"


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=SDK_VERSIONS)
async def sdk(
    daemon: RunningDaemon, request: pytest.FixtureRequest
) -> AsyncIterator[docker.DockerClient]:
    # Made off the loop too: the client asks the daemon for its API version.
    client = await off_loop(
        docker.DockerClient, base_url=daemon.host, timeout=CLIENT_TIMEOUT, version=request.param
    )
    try:
        yield client
    finally:
        client.close()


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


@contextlib.asynccontextmanager
async def removed_at_end(container: Container) -> AsyncIterator[Container]:
    try:
        yield container
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            await off_loop(container.remove, force=True)


async def test_speaks_its_version(sdk: docker.DockerClient) -> None:
    # "auto" takes the daemon's ApiVersion as it is; a pinned client keeps its own,
    # and every request it makes goes to /v<that version>/.
    assert sdk.api.api_version in (ADVERTISED, *SDK_VERSIONS)
    version = await off_loop(sdk.version)
    assert (version["ApiVersion"], version["MinAPIVersion"]) == (ADVERTISED, "1.24")


async def test_image_list_inspect_tag_remove(sdk: docker.DockerClient) -> None:
    image = await off_loop(sdk.images.get, "busybox")
    assert image.id.startswith("sha256:")
    assert image.attrs["Os"] == "linux"
    assert await off_loop(image.tag, "sdk-tagged", "v1")
    try:
        tagged = await off_loop(sdk.images.get, "sdk-tagged:v1")
        assert tagged.id == image.id
        assert "sdk-tagged:v1" in tagged.tags
        listed = await off_loop(sdk.images.list, name="sdk-tagged")
        assert [i.id for i in listed] == [image.id]
        # The deprecated fields go at the versions dockerd dropped them.
        pinned = tuple(int(part) for part in sdk.api.api_version.split("."))
        assert ("VirtualSize" in listed[0].attrs) == (pinned < (1, 44))
        assert ("ContainerConfig" in tagged.attrs) == (pinned < (1, 45))
    finally:
        await off_loop(sdk.images.remove, "sdk-tagged:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        await off_loop(sdk.images.get, "sdk-tagged:v1")


async def test_run_detached_then_remove(sdk: docker.DockerClient) -> None:
    container = await off_loop(
        sdk.containers.run, "busybox", ["sleep", "300"], detach=True, name="sdk-detached"
    )
    async with removed_at_end(container):
        await off_loop(container.reload)
        assert container.status == "running"
        assert container.name == "sdk-detached"
        listed = await off_loop(sdk.containers.list)
        assert [c.id for c in listed] == [container.id]
        await off_loop(container.remove, force=True)
        with pytest.raises(docker.errors.NotFound):
            await off_loop(sdk.containers.get, container.id)


async def test_run_with_remove_returns_output(sdk: docker.DockerClient) -> None:
    out = await off_loop(
        sdk.containers.run,
        "busybox",
        ["sh", "-c", "echo to stdout; echo to stderr >&2"],
        remove=True,
    )
    # run() returns stdout only unless stderr=True is asked for.
    assert out == b"to stdout\n"
    out = await off_loop(
        sdk.containers.run, "busybox", ["sh", "-c", "echo both >&2"], remove=True, stderr=True
    )
    assert out == b"both\n"
    assert await off_loop(sdk.containers.list, all=True) == []


async def test_run_failure_raises_container_error(sdk: docker.DockerClient) -> None:
    with pytest.raises(docker.errors.ContainerError) as caught:
        await off_loop(
            sdk.containers.run, "busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True
        )
    assert caught.value.exit_status == 3
    assert caught.value.stderr == b"bad\n"
    assert await off_loop(sdk.containers.list, all=True) == []


async def test_logs_stream_follows_output(sdk: docker.DockerClient) -> None:
    container = await off_loop(
        sdk.containers.run,
        "busybox",
        ["sh", "-c", "echo one; echo two >&2; echo three; exec sleep 300"],
        detach=True,
    )
    async with removed_at_end(container):
        stream = await off_loop(container.logs, stream=True, follow=True)

        def read_three_lines() -> bytes:
            seen = b""
            for chunk in stream:
                seen += chunk
                if seen.count(b"\n") >= 3:
                    break
            return seen

        seen = await off_loop(read_three_lines)
        # stdout and stderr are copied independently: only each one's order is fixed.
        lines = seen.splitlines()
        assert sorted(lines) == [b"one", b"three", b"two"]
        assert lines.index(b"one") < lines.index(b"three")

        # The follow ends when the container does.
        rest = asyncio.ensure_future(off_loop(lambda: b"".join(stream)))
        await off_loop(container.kill)
        assert await asyncio.wait_for(rest, CLIENT_TIMEOUT) == b""


async def test_exec_run_demux_separates_streams(sdk: docker.DockerClient) -> None:
    container = await off_loop(sdk.containers.run, "busybox", ["sleep", "300"], detach=True)
    async with removed_at_end(container):
        result = await off_loop(
            container.exec_run, ["sh", "-c", "echo out; echo err >&2; exit 4"], demux=True
        )
        assert result.exit_code == 4
        assert result.output == (b"out\n", b"err\n")
        result = await off_loop(container.exec_run, ["echo", "only out"], demux=True)
        assert (result.exit_code, result.output) == (0, (b"only out\n", None))


async def test_wait_gives_exit_code(sdk: docker.DockerClient) -> None:
    container = await off_loop(sdk.containers.run, "busybox", ["sh", "-c", "exit 7"], detach=True)
    async with removed_at_end(container):
        assert await off_loop(container.wait) == {"Error": None, "StatusCode": 7}
        await off_loop(container.reload)
        assert container.status == "exited"
        assert container.attrs["State"]["ExitCode"] == 7


async def test_kill_then_wait(sdk: docker.DockerClient) -> None:
    container = await off_loop(sdk.containers.run, "busybox", ["sleep", "300"], detach=True)
    async with removed_at_end(container):
        waiting = asyncio.ensure_future(off_loop(container.wait))
        await off_loop(container.kill)
        assert (await asyncio.wait_for(waiting, CLIENT_TIMEOUT))["StatusCode"] == 137
        await off_loop(container.reload)
        assert container.status == "exited"
        with pytest.raises(docker.errors.APIError) as caught:
            await off_loop(container.kill)
        assert caught.value.status_code == 409


async def test_attach_socket_reads_frames(sdk: docker.DockerClient) -> None:
    container = await off_loop(
        sdk.containers.create,
        "busybox",
        ["sh", "-c", "echo hello; echo oops >&2; echo bye"],
    )
    async with removed_at_end(container):
        # Attached before start, like the CLI: no output can be missed.
        sock = await off_loop(
            container.attach_socket, params={"stdout": 1, "stderr": 1, "stream": 1}
        )
        try:
            await off_loop(container.start)
            frames = await off_loop(lambda: list(frames_iter(sock, tty=False)))
        finally:
            sock.close()
        by_stream: dict[int, bytes] = {}
        for stream_id, data in frames:
            by_stream[stream_id] = by_stream.get(stream_id, b"") + data
        assert by_stream == {1: b"hello\nbye\n", 2: b"oops\n"}
        assert (await off_loop(container.wait))["StatusCode"] == 0


async def test_remove(sdk: docker.DockerClient) -> None:
    container = await off_loop(sdk.containers.create, "busybox", ["true"], name="sdk-rm")
    await off_loop(container.remove)
    with pytest.raises(docker.errors.NotFound):
        await off_loop(sdk.containers.get, "sdk-rm")
    with pytest.raises(docker.errors.NotFound):
        await off_loop(container.remove)


CONCURRENT_RUNS = 50


async def test_concurrent_runs_with_remove_leave_nothing(
    daemon: RunningDaemon, containerd: TestContainerd
) -> None:
    # One warm-up run, so that the baseline holds everything a run creates once
    # per daemon (the image's snapshots, the log directory...).
    warm = await off_loop(docker.DockerClient, base_url=daemon.host, timeout=CLIENT_TIMEOUT)
    try:
        assert await off_loop(warm.containers.run, "busybox", ["true"], remove=True) == b""
    finally:
        warm.close()
    containers_before = set(await containerd.list_containers())
    snapshots_before = set(await containerd.list_snapshots())
    tasks_before = {row.id for row in await containerd.list_tasks()}

    def run_one(n: int) -> bytes:
        # A client per thread: the SDK's HTTP session is not meant to be shared.
        client = docker.DockerClient(base_url=daemon.host, timeout=CLIENT_TIMEOUT)
        try:
            out: bytes = client.containers.run("busybox", ["echo", f"run {n}"], remove=True)
            return out
        finally:
            client.close()

    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(max_workers=CONCURRENT_RUNS) as pool:
        outputs = await asyncio.gather(
            *(loop.run_in_executor(pool, run_one, n) for n in range(CONCURRENT_RUNS))
        )
    assert outputs == [f"run {n}\n".encode() for n in range(CONCURRENT_RUNS)]

    code, out, err = await daemon.docker("ps", "-aq")
    assert (code, out) == (0, ""), err
    assert daemon.services.daemon.containers() == []
    assert set(await containerd.list_containers()) == containers_before
    assert set(await containerd.list_snapshots()) == snapshots_before
    assert {row.id for row in await containerd.list_tasks()} == tasks_before
