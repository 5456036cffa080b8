"""The real docker CLI against mooraged: run, exec, exit codes."""

from __future__ import annotations

import asyncio
import os

from tests.support.daemon import RunningDaemon


async def test_version_negotiates_to_the_clis_newest(daemon: RunningDaemon) -> None:
    # moorage advertises 1.56; CLI 28.2.2 speaks up to 1.50 and so settles there.
    code, out, err = await daemon.docker(
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Client.APIVersion}}",
    )
    assert code == 0, err
    assert out.split() == ["1.56", "1.24", "1.50"]


async def test_run_rm_echo(daemon: RunningDaemon) -> None:
    code, out, err = await daemon.docker("run", "--rm", "busybox", "echo", "hi")
    assert (code, out) == (0, "hi\n"), err
    code, out, _ = await daemon.docker("ps", "-aq")
    assert out.strip() == ""


async def test_exit_code_passes_through(daemon: RunningDaemon) -> None:
    code, _, err = await daemon.docker("run", "--rm", "busybox", "sh", "-c", "exit 3")
    assert code == 3, err


async def test_missing_executable_is_127(daemon: RunningDaemon) -> None:
    code, _, err = await daemon.docker("run", "--rm", "busybox", "nosuchcmd")
    assert code == 127
    assert "executable file not found" in err


async def test_run_detached_then_exec(daemon: RunningDaemon) -> None:
    code, out, err = await daemon.docker(
        "run", "-d", "--name", "sleeper", "busybox", "sleep", "300"
    )
    assert code == 0, err
    cid = out.strip()
    code, out, err = await daemon.docker("exec", "sleeper", "echo", "from exec")
    assert (code, out) == (0, "from exec\n"), err
    code, out, err = await daemon.docker("exec", "-i", "sleeper", "cat", stdin=b"piped\n")
    assert (code, out) == (0, "piped\n"), err
    code, out, _ = await daemon.docker("inspect", "--format", "{{.State.Status}} {{.Name}}", cid)
    assert out.strip() == "running /sleeper"
    code, _, err = await daemon.docker("rm", "-f", "sleeper")
    assert code == 0, err
    code, _, err = await daemon.docker("inspect", "sleeper")
    assert code == 1


async def test_run_interactive_stdin(daemon: RunningDaemon) -> None:
    code, out, err = await daemon.docker(
        "run", "-i", "--rm", "busybox", "cat", stdin=b"line one\nline two\n"
    )
    assert (code, out) == (0, "line one\nline two\n"), err


async def test_logs_tail_timestamps_and_follow(daemon: RunningDaemon) -> None:
    code, out, err = await daemon.docker(
        "run", "--name", "talker", "busybox", "sh", "-c", "echo one; echo two >&2; echo three"
    )
    assert code == 0, err
    code, out, err = await daemon.docker("logs", "talker")
    assert code == 0
    assert out == "one\nthree\n" and err == "two\n"
    code, out, err = await daemon.docker("logs", "--tail", "1", "-t", "talker")
    # stdout and stderr are copied independently, so either may hold the last line.
    lines = (out + err).splitlines(keepends=True)
    assert len(lines) == 1
    stamp, _, text = lines[0].partition(" ")
    assert text in ("two\n", "three\n") and stamp.endswith("Z") and "T" in stamp
    # A stopped container's -f ends at once with what it has.
    code, out, _ = await daemon.docker("logs", "-f", "talker")
    assert (code, out) == (0, "one\nthree\n")
    code, _, _ = await daemon.docker("rm", "talker")
    assert code == 0


async def test_logs_follow_running_container(daemon: RunningDaemon) -> None:
    code, out, err = await daemon.docker(
        "run", "-d", "--name", "ticker", "busybox", "sh", "-c", "echo a; exec sleep 300"
    )
    assert code == 0, err
    follower = asyncio.ensure_future(daemon.docker("logs", "-f", "ticker"))
    code, out, err = await daemon.docker("stop", "-t", "1", "ticker")
    assert code == 0, err
    code, out, _ = await follower
    assert code == 0 and out.startswith("a\n")
    code, out, _ = await daemon.docker("inspect", "--format", "{{.State.ExitCode}}", "ticker")
    assert out.strip() == "137"
    await daemon.docker("rm", "-f", "ticker")


async def test_attach_with_stdin(daemon: RunningDaemon) -> None:
    code, _, err = await daemon.docker(
        "run", "-di", "--name", "listener", "busybox", "sh", "-c", "read x; echo got $x"
    )
    assert code == 0, err
    code, out, err = await daemon.docker("attach", "listener", stdin=b"hello\n")
    assert (code, out) == (0, "got hello\n"), err
    await daemon.docker("rm", "listener")


async def test_exec_user_workdir_env_and_privileged(daemon: RunningDaemon) -> None:
    await daemon.docker_ok("run", "-d", "--name", "exec-opts", "busybox", "sleep", "300")
    out = await daemon.docker_ok(
        "exec",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "EXTRA=1",
        "exec-opts",
        "sh",
        "-c",
        "id -u; pwd; echo $EXTRA",
    )
    assert out.split() == ["65534", "/tmp", "1"]
    code, out, err = await daemon.docker("exec", "-u", "nosuchuser", "exec-opts", "true")
    assert code == 126
    assert "unable to find user nosuchuser" in out + err
    plain = await daemon.docker_ok("exec", "exec-opts", "grep", "CapEff", "/proc/self/status")
    privileged = await daemon.docker_ok(
        "exec", "--privileged", "exec-opts", "grep", "CapEff", "/proc/self/status"
    )
    assert int(privileged.split()[1], 16) > int(plain.split()[1], 16)
    await daemon.docker_ok("rm", "-f", "exec-opts")


async def test_log_rotation_options(daemon: RunningDaemon) -> None:
    script = "i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"
    await daemon.docker_ok(
        "run",
        "--name",
        "rotated",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        script,
    )
    lines = (await daemon.docker_ok("logs", "rotated")).splitlines()
    # Two files of at most 2 kB each keep only the newest lines, ending with the last one.
    assert lines[-1].startswith("line-199-")
    assert 0 < len(lines) < 200
    numbers = [int(line.split("-")[1]) for line in lines]
    assert numbers == list(range(numbers[0], 200))
    log_path = await daemon.docker_ok("inspect", "--format", "{{.LogPath}}", "rotated")
    assert _exists(log_path.strip() + ".1") and not _exists(log_path.strip() + ".2")
    await daemon.docker_ok("rm", "rotated")


def _exists(path: str) -> bool:
    return os.path.exists(path)


async def test_logs_of_the_none_driver_is_501(daemon: RunningDaemon) -> None:
    await daemon.docker_ok(
        "run", "--name", "silent", "--log-driver", "none", "busybox", "echo", "x"
    )
    status, body = await daemon.request("GET", "/containers/silent/logs", stdout="1")
    assert status == 501
    assert body == {"message": "configured logging driver does not support reading"}
    await daemon.docker_ok("rm", "silent")
