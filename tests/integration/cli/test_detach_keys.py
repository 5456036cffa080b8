"""Detach keys: attach and exec -i on a terminal end on the detach sequence, the
container (and the exec's process) going on; dockerd's syntax and error texts."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.sdk.test_sdk import off_loop, sdk
from tests.support.daemon import RunningDaemon
from tests.support.terminal import cli_terminal

__all__ = ["sdk"]

CTRL_P, CTRL_Q = b"\x10", b"\x11"


async def _running(daemon: RunningDaemon, name: str) -> bool:
    out = await daemon.docker_ok("inspect", "--format", "{{.State.Running}}", name)
    return out.strip() == "true"


async def _cat_container(daemon: RunningDaemon, name: str, *, tty: bool = True) -> None:
    flags = ["-dit"] if tty else ["-di"]
    await daemon.docker_ok("run", *flags, "--name", name, "busybox", "cat")


async def test_cli_attach_detaches_on_ctrl_p_ctrl_q(daemon: RunningDaemon) -> None:
    await _cat_container(daemon, "dk-default")
    try:
        async with cli_terminal(daemon, "attach", "dk-default") as cli:
            await cli.wait_raw()
            cli.type(b"typed-before\r")
            await cli.expect(b"typed-before")
            cli.type(CTRL_P + CTRL_Q)
            # The CLI's own words for a detach, and its exit status 1.
            assert await cli.exit_code() == 1
            assert cli.output.endswith(b"read escape sequence\r\n")
        assert await _running(daemon, "dk-default")
        # The container's stdin stayed open: a new attach still talks to the same cat.
        async with cli_terminal(daemon, "attach", "dk-default") as cli:
            await cli.wait_raw()
            cli.type(b"typed-after\r")
            await cli.expect(b"typed-after\r\ntyped-after")
            cli.type(CTRL_P + CTRL_Q)
            assert await cli.exit_code() == 1
    finally:
        await daemon.docker_ok("rm", "-f", "dk-default")


async def test_cli_config_file_detach_keys_end_exec(daemon: RunningDaemon, tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"detachKeys": "ctrl-x,y"}))
    await _cat_container(daemon, "dk-config")
    try:
        async with cli_terminal(daemon, "exec", "-it", "dk-config", "sh", config=config) as cli:
            await cli.wait_raw()
            cli.type(b"echo in-$((6*7))\r")
            await cli.expect(b"in-42")
            # ctrl-p ctrl-q is not the sequence now: sh gets it and goes on.
            cli.type(CTRL_P + CTRL_Q + b"\x15echo still-$((6*7))\r")
            await cli.expect(b"still-42")
            cli.type(b"\x18y")
            assert await cli.exit_code() == 1
            assert cli.output.endswith(b"read escape sequence\r\n")
        assert await _running(daemon, "dk-config")
        exec_ids = json.loads(
            await daemon.docker_ok("inspect", "--format", "{{json .ExecIDs}}", "dk-config")
        )
        # The exec's shell runs on after the detach.
        status, body = await daemon.request("GET", f"/exec/{exec_ids[-1]}/json")
        assert status == 200 and body["Running"] is True
    finally:
        await daemon.docker_ok("rm", "-f", "dk-config")


def _attach_socket(sdk: docker.DockerClient, name: str, **params: Any) -> socket.socket:
    raw = sdk.api.attach_socket(name, {"stdin": 1, "stream": 1, "stdout": 1, **params})
    sock: socket.socket = raw._sock
    sock.settimeout(20)
    return sock


def _read_until_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _read_until(sock: socket.socket, text: bytes) -> bytes:
    data = b""
    while text not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection ended before {text!r}: {data!r}"
        data += chunk
    return data


async def test_query_detach_keys_and_a_partial_sequence(
    daemon: RunningDaemon, sdk: docker.DockerClient
) -> None:
    await _cat_container(daemon, "dk-query")
    try:

        def session() -> tuple[bytes, bytes]:
            sock = _attach_socket(sdk, "dk-query", detachKeys="ctrl-a,x")
            try:
                # ctrl-a then y: not the sequence, both bytes reach cat (which writes them back).
                sock.sendall(b"\x01")
                sock.sendall(b"y\n")
                echoed = _read_until(sock, b"\x01y\r\n")
                sock.sendall(b"\x01x")
                return echoed, _read_until_eof(sock)
            finally:
                sock.close()

        echoed, rest = await off_loop(session)
        assert b"\x01y" in echoed
        assert b"x" not in rest
        assert await _running(daemon, "dk-query")
    finally:
        await daemon.docker_ok("rm", "-f", "dk-query")


async def test_exec_socket_detaches_on_the_default_keys(
    daemon: RunningDaemon, sdk: docker.DockerClient
) -> None:
    await _cat_container(daemon, "dk-exec", tty=False)
    try:

        def session() -> tuple[str, bytes]:
            exec_id = sdk.api.exec_create("dk-exec", "cat", stdin=True, tty=True)["Id"]
            raw = sdk.api.exec_start(exec_id, tty=True, socket=True)
            sock: socket.socket = raw._sock
            sock.settimeout(20)
            try:
                sock.sendall(b"ping\n")
                # The terminal's echo of the line, then cat's copy of it: both, so that
                # what follows the keys is only the detach message.
                _read_until(sock, b"ping\r\nping\r\n")
                sock.sendall(CTRL_P + CTRL_Q)
                return exec_id, _read_until_eof(sock)
            finally:
                sock.close()

        exec_id, rest = await off_loop(session)
        # dockerd 20.10's words for it, then the end of the stream.
        assert rest == b"exec attach failed: error on attach stdin: read escape sequence\r\n"
        status, body = await daemon.request("GET", f"/exec/{exec_id}/json")
        assert (status, body["Running"], body["ExitCode"]) == (200, True, None)
    finally:
        await daemon.docker_ok("rm", "-f", "dk-exec")


async def test_no_detach_without_a_terminal(
    daemon: RunningDaemon, sdk: docker.DockerClient
) -> None:
    # As in dockerd: without a TTY the keys are ordinary input.
    await _cat_container(daemon, "dk-notty", tty=False)
    try:

        def session() -> bytes:
            sock = _attach_socket(sdk, "dk-notty")
            try:
                sock.sendall(CTRL_P + CTRL_Q + b"after\n")
                return _read_until(sock, b"after\n")
            finally:
                sock.close()

        out = await off_loop(session)
        # One stdout frame: header, then the bytes cat got.
        assert out[8:] == CTRL_P + CTRL_Q + b"after\n"
    finally:
        await daemon.docker_ok("rm", "-f", "dk-notty")


@pytest.mark.parametrize("keys", ["ctrl-foo", "ctrl-A", "a,,b", "ab"])
async def test_bad_detach_keys_get_dockerds_errors(daemon: RunningDaemon, keys: str) -> None:
    await _cat_container(daemon, "dk-bad")
    try:
        status, body = await daemon.request(
            "POST", "/containers/dk-bad/attach", None, stream="1", stdin="1", detachKeys=keys
        )
        assert (status, body) == (400, {"message": f"Invalid detach keys ({keys}) provided"})
        status, body = await daemon.request(
            "POST", "/containers/dk-bad/exec", {"Cmd": ["true"], "DetachKeys": keys}
        )
        assert (status, body) == (500, {"message": f"Invalid escape keys ({keys}) provided"})
        exec_ids = await daemon.docker_ok("inspect", "--format", "{{json .ExecIDs}}", "dk-bad")
        assert json.loads(exec_ids) is None
    finally:
        await daemon.docker_ok("rm", "-f", "dk-bad")


async def test_exec_inspect_shows_its_detach_keys(daemon: RunningDaemon) -> None:
    await _cat_container(daemon, "dk-inspect")
    try:
        status, created = await daemon.request(
            "POST", "/containers/dk-inspect/exec", {"Cmd": ["true"], "DetachKeys": "ctrl-a,x"}
        )
        assert status == 201
        _, body = await daemon.request("GET", f"/exec/{created['Id']}/json")
        assert body["DetachKeys"] == "AXg="  # base64 of b"\x01x", a Go []byte
    finally:
        await daemon.docker_ok("rm", "-f", "dk-inspect")
