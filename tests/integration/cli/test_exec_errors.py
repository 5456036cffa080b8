"""`docker exec` of a command that cannot start: dockerd 20.10's words and exit codes.

The texts are what dockerd 20.10.24 with runc 1.1.5 gave for the same commands in the
same busybox test image. That image links only the applets tests use: there is no
`test` in it, so `docker exec c test ...` is a command not in PATH (`sh -c "test ..."`
uses the shell's own). The error of an attached exec comes in its output stream, so the
CLI prints it on stdout, not stderr.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.support.daemon import RunningDaemon

PREFIX = "OCI runtime exec failed: exec failed: unable to start container process: "
NOT_A_DIRECTORY_HINT = (
    ": Are you trying to mount a directory onto a file (or vice-versa)?"
    " Check if the specified host path exists and is the expected type"
)
# (command, dockerd's message after PREFIX)
CASES = [
    (["test", "-L", "/afile"], 'exec: "test": executable file not found in $PATH: unknown'),
    (["nosuch"], 'exec: "nosuch": executable file not found in $PATH: unknown'),
    (["/nosuch"], 'exec: "/nosuch": stat /nosuch: no such file or directory: unknown'),
    (["/afile"], 'exec: "/afile": permission denied: unknown'),
    (["/adir"], 'exec: "/adir": permission denied: unknown'),
    (
        ["/afile/x"],
        'exec: "/afile/x": stat /afile/x: not a directory: unknown' + NOT_A_DIRECTORY_HINT,
    ),
]
IDS = ["test-applet", "not-in-path", "no-such-path", "not-executable", "directory", "not-a-dir"]


async def _container(daemon: RunningDaemon, name: str) -> None:
    await daemon.docker_ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    # A file that is not executable and a directory, to exec.
    await daemon.docker_ok("exec", name, "sh", "-c", "mkdir /adir && echo hi > /afile")


@pytest.mark.parametrize(("command", "reason"), CASES, ids=IDS)
async def test_exec_that_cannot_start(
    daemon: RunningDaemon, command: list[str], reason: str
) -> None:
    name = "exec-err-" + IDS[CASES.index((command, reason))]
    await _container(daemon, name)
    try:
        code, out, err = await daemon.docker("exec", name, *command)
        assert (code, out, err) == (126, PREFIX + reason + "\r\n", "")

        code, out, err = await daemon.docker("exec", "-d", name, *command)
        assert (code, out, err) == (1, "", f"Error response from daemon: {PREFIX}{reason}\n")

        # Failed execs are over: the container lists none, and it runs on.
        ids, status = (
            await daemon.docker_ok(
                "inspect", "--format", "{{json .ExecIDs}} {{.State.Status}}", name
            )
        ).split()
        assert (ids, status) == ("null", "running")

        # dockerd says an exec started before it asks the runtime: failed ones too.
        actions = await daemon.docker_ok(
            "events", "--since", "0", "--until", f"{time.time():.6f}",
            "--filter", f"container={name}", "--filter", "event=exec_start",
            "--format", "{{.Action}}",
        )  # fmt: skip
        started = f"exec_start: {command[0]} {' '.join(command[1:])}"
        assert actions.splitlines() == [
            "exec_start: sh -c mkdir /adir && echo hi > /afile",
            *[started] * 2,
        ]
    finally:
        await daemon.docker_ok("rm", "-f", name)


async def test_the_shells_test_works_where_the_applet_is_missing(daemon: RunningDaemon) -> None:
    await _container(daemon, "exec-err-sh-test")
    try:
        code, out, _ = await daemon.docker("exec", "exec-err-sh-test", "sh", "-c", "test -f /afile")
        assert (code, out) == (0, "")
        code, _, _ = await daemon.docker("exec", "exec-err-sh-test", "sh", "-c", "test -L /afile")
        assert code == 1  # a real answer: not a link
    finally:
        await daemon.docker_ok("rm", "-f", "exec-err-sh-test")


async def test_starting_an_exec_again(daemon: RunningDaemon) -> None:
    """dockerd checks that an exec has not run only once its stream is open: an attached
    start says so in the stream (200, a stdout frame), a detached one with a 409."""
    await _container(daemon, "exec-err-again")
    try:
        made = await daemon.call(
            "POST", "/containers/exec-err-again/exec", body={"Cmd": ["nosuch"]}
        )
        exec_id = made.json()["Id"]
        first = await daemon.call("POST", f"/exec/{exec_id}/start", body={"Detach": False})
        assert first.status == 200
        inspected = (await daemon.call("GET", f"/exec/{exec_id}/json")).json()
        assert (inspected["ExitCode"], inspected["Running"]) == (126, False)

        again = f"Error: Exec command {exec_id} has already run"
        attached = await daemon.call("POST", f"/exec/{exec_id}/start", body={"Detach": False})
        line = f"{again}\r\n".encode()
        # A stdout frame: stream 1, three zero bytes, the length (big-endian), the bytes.
        frame = b"\x01\x00\x00\x00" + len(line).to_bytes(4, "big") + line
        assert (attached.status, attached.body) == (200, frame)
        on_a_tty = await daemon.call(
            "POST", f"/exec/{exec_id}/start", body={"Detach": False, "Tty": True}
        )
        assert (on_a_tty.status, on_a_tty.body) == (200, line)
        detached = await daemon.call("POST", f"/exec/{exec_id}/start", body={"Detach": True})
        assert (detached.status, detached.message) == (409, again)
    finally:
        await daemon.docker_ok("rm", "-f", "exec-err-again")


async def test_exec_start_once_the_container_stopped(daemon: RunningDaemon) -> None:
    """What dockerd 20.10.24 answered for execs made while the container ran and started
    after it stopped: one never started is forgotten at the exit (404); one that ran stays
    to be inspected, and starting it is a 500 naming the container's state."""
    await _container(daemon, "exec-err-stopped")
    cid = (await daemon.docker_ok("inspect", "--format", "{{.Id}}", "exec-err-stopped")).strip()

    async def made(cmd: list[str]) -> str:
        reply = await daemon.call("POST", f"/containers/{cid}/exec", body={"Cmd": cmd})
        assert reply.status == 201, reply.body
        return str(reply.json()["Id"])

    try:
        done, running, never = (
            await made(["true"]),
            await made(["sleep", "300"]),
            await made(["true"]),
        )
        assert (
            await daemon.call("POST", f"/exec/{done}/start", body={"Detach": False})
        ).status == 200
        assert (
            await daemon.call("POST", f"/exec/{running}/start", body={"Detach": True})
        ).status == 200
        await daemon.docker_ok("stop", "-t", "0", cid)

        ids = await daemon.docker_ok("inspect", "--format", "{{json .ExecIDs}}", cid)
        assert ids.strip() == "null"
        gone = f"No such exec instance: {never}"
        for method, path in (("GET", f"/exec/{never}/json"), ("POST", f"/exec/{never}/start")):
            reply = await daemon.call(method, path, body={"Detach": True})
            assert (reply.status, reply.message) == (404, gone)
        not_running = re.compile(
            f"Container {cid} is not running: "
            r"Exited \(137\) (Less than a second|\d+ seconds) ago"
        )
        for exec_id, exit_code in ((done, 0), (running, 137)):
            inspected = (await daemon.call("GET", f"/exec/{exec_id}/json")).json()
            assert (inspected["Running"], inspected["ExitCode"]) == (False, exit_code)
            reply = await daemon.call("POST", f"/exec/{exec_id}/start", body={"Detach": True})
            assert reply.status == 500 and not_running.fullmatch(reply.message or ""), reply.body

        # Running again, the exec that ran is still one that ran.
        await daemon.docker_ok("start", cid)
        reply = await daemon.call("POST", f"/exec/{done}/start", body={"Detach": True})
        assert (reply.status, reply.message) == (409, f"Error: Exec command {done} has already run")
    finally:
        await daemon.docker_ok("rm", "-f", cid)


async def test_exec_cmd_must_be_a_list(daemon: RunningDaemon) -> None:
    """dockerd 20.10.24's ExecConfig.Cmd is a []string: a string is its 400 (`json: cannot
    unmarshal string into Go struct field ExecConfig.Cmd of type []string`), and no exec is
    made; mooraged took it as a command named "echo hi" (201)."""
    await daemon.docker_ok("run", "-d", "--name", "exec-err-cmd", "busybox", "sleep", "300")
    try:
        reply = await daemon.call("POST", "/containers/exec-err-cmd/exec", body={"Cmd": "echo hi"})
        assert reply.status == 400, reply.body
        assert "Cmd" in reply.message
        ids = await daemon.docker_ok("inspect", "--format", "{{json .ExecIDs}}", "exec-err-cmd")
        assert ids.strip() == "null"
    finally:
        await daemon.docker_ok("rm", "-f", "exec-err-cmd")
