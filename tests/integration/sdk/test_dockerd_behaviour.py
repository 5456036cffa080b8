"""dockerd 20.10 behaviours that the docker SDK's own integration tests rely on.

Each test drives the real SDK (off the loop, as tests/integration/sdk/test_sdk.py explains)
against the in-process daemon.
"""

from __future__ import annotations

import asyncio

import docker
import docker.errors
import pytest

from daemon.container import stop as stop_module
from libcontainerd.remote.client import RemoteClient
from libcontainerd.types import EventInfo, EventType
from tests.integration.sdk.test_sdk import off_loop, removed_at_end, sdk
from tests.support.daemon import RunningDaemon

__all__ = ["sdk"]


async def test_sigkill_returns_after_the_exit(sdk: docker.DockerClient) -> None:
    container = await off_loop(sdk.containers.run, "busybox", ["sleep", "300"], detach=True)
    async with removed_at_end(container):
        await off_loop(container.kill)
        await off_loop(container.reload)
        state = container.attrs["State"]
        assert (state["Status"], state["Running"], state["ExitCode"]) == ("exited", False, 137)
        # No 409: the container is stopped already.
        await off_loop(container.remove)


async def test_sigkill_of_a_paused_container_returns_after_the_exit(
    sdk: docker.DockerClient,
) -> None:
    container = await off_loop(sdk.containers.run, "busybox", ["sleep", "300"], detach=True)
    async with removed_at_end(container):
        await off_loop(container.pause)
        await off_loop(container.kill, "SIGKILL")
        await off_loop(container.reload)
        assert container.attrs["State"]["Running"] is False
        await off_loop(container.remove)


async def test_other_signals_return_at_once(sdk: docker.DockerClient) -> None:
    # sh ignores nothing it was not told to: USR1 is trapped and ends the loop by itself.
    script = "trap 'echo got-usr1; exit 3' USR1; echo trapped; while :; do sleep 0.1; done"
    container = await off_loop(sdk.containers.run, "busybox", ["sh", "-c", script], detach=True)
    async with removed_at_end(container):
        # A USR1 that comes before the trap is set ends sh with 138: sent only once it is.
        stream = await off_loop(container.logs, stream=True, follow=True)
        async with asyncio.timeout(20):
            assert await off_loop(next, stream) == b"trapped\n"
        await off_loop(container.kill, "SIGUSR1")
        assert (await off_loop(container.wait, timeout=20))["StatusCode"] == 3


async def test_sigkill_whose_exit_never_comes_fails_in_bounded_time(
    sdk: docker.DockerClient, daemon: RunningDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = await off_loop(sdk.containers.run, "busybox", ["sleep", "300"], detach=True)
    async with removed_at_end(container):
        # containerd's exit event for this container is held back before the daemon
        # hears of it at all: the kill must give up on its own.
        client = daemon.services.daemon._client()
        assert isinstance(client, RemoteClient)
        deliver = client._deliver
        held: list[tuple[EventType, EventInfo]] = []

        def holding(event_type: EventType, info: EventInfo) -> None:
            if info.container_id == container.id and event_type is EventType.EXIT:
                held.append((event_type, info))
            else:
                deliver(event_type, info)

        monkeypatch.setattr(client, "_deliver", holding)
        monkeypatch.setattr(stop_module, "KILL_EXIT_TIMEOUT", 0.5)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(docker.errors.APIError) as caught:
            await off_loop(container.kill)
        assert loop.time() - began < 10
        assert caught.value.status_code == 500
        assert caught.value.explanation == (
            f"Cannot kill container: {container.id}: "
            "tried to kill container, but did not receive an exit event"
        )
        monkeypatch.undo()
        for event in held:
            deliver(*event)
        assert (await off_loop(container.wait, timeout=20))["StatusCode"] == 137
        await off_loop(container.remove)


async def test_exec_start_tty_decides_the_framing(sdk: docker.DockerClient) -> None:
    api = sdk.api
    container = await off_loop(sdk.containers.run, "busybox", ["sleep", "300"], detach=True)
    async with removed_at_end(container):
        # A terminal process started without Tty: stdcopy frames, which the SDK
        # demultiplexes (all of a terminal's output is stdout).
        exec_id = await off_loop(
            api.exec_create, container.id, ["sh", "-c", "echo from-a-tty"], tty=True
        )
        out = await off_loop(api.exec_start, exec_id, tty=False, demux=True)
        assert out == (b"from-a-tty\r\n", None)
        # The reverse: a plain process started with Tty gets its bytes raw, both streams.
        exec_id = await off_loop(
            api.exec_create, container.id, ["sh", "-c", "echo out; echo err >&2"], tty=False
        )
        out = await off_loop(api.exec_start, exec_id, tty=True)
        assert sorted(out.splitlines()) == [b"err", b"out"]


async def test_load_of_a_non_archive_fails_in_the_stream(
    sdk: docker.DockerClient, daemon: RunningDaemon
) -> None:
    before = await off_loop(sdk.api.images, all=True)
    garbage = b"this is not an image archive\n" * 100
    with pytest.raises(docker.errors.ImageLoadError) as caught:
        await off_loop(sdk.images.load, garbage)
    message = str(caught.value)
    assert message
    # The raw reply: 200, then dockerd's error message shape.
    status, body = await daemon.request("POST", "/images/load", None)
    assert status == 200
    assert set(body) == {"errorDetail", "error"} and body["errorDetail"]["message"] == body["error"]
    # The CLI prints that message and fails; nothing was loaded.
    code, _, err = await daemon.docker("load", stdin=garbage)
    assert code == 1 and message in err
    assert await off_loop(sdk.api.images, all=True) == before


async def test_pause_and_unpause_answer_promptly_after_a_failed_exec(
    daemon: RunningDaemon,
) -> None:
    # The SDK's own suite saw pause() hang for its 60 s timeout. pause was not the
    # cause: a failed exec start (its test runs just before) left fds closed behind
    # the loop's back, and whichever request next got one of those fd numbers was
    # never answered. The same order here, with a short client timeout.
    client = await off_loop(docker.DockerClient, base_url=daemon.host, timeout=15)
    try:
        failing = await off_loop(client.containers.run, "busybox", ["sleep", "300"], detach=True)
        async with removed_at_end(failing):
            result = await off_loop(failing.exec_run, ["no-such-binary"])
            assert result.exit_code == 126
            container = await off_loop(
                client.containers.run, "busybox", ["sleep", "300"], detach=True
            )
            async with removed_at_end(container):
                await off_loop(container.pause)
                await off_loop(container.reload)
                assert container.status == "paused"
                await off_loop(container.unpause)
                await off_loop(container.reload)
                assert container.status == "running"
    finally:
        client.close()
