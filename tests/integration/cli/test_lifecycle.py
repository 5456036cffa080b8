"""The docker CLI's lifecycle commands against mooraged: ps, inspect, kill, restart, wait,
pause, rename, OOM, TTYs, and stopped containers surviving a daemon restart."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from libcontainerd.types import EventInfo, EventType, StdioSpec
from tests.support.capabilities import privileged_mask
from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.daemon import RunningDaemon, running_daemon
from tests.support.terminal import docker_tty


async def test_ps_all_quiet_and_filters(daemon: RunningDaemon) -> None:
    running = (
        await daemon.docker_ok(
            "run", "-d", "--name", "ps-up", "-l", "tier=web", "busybox", "sleep", "300"
        )
    ).strip()
    code, _, _ = await daemon.docker("run", "--name", "ps-done", "busybox", "sh", "-c", "exit 4")
    assert code == 4
    assert (await daemon.docker_ok("ps", "-q")).split() == [running[:12]]
    names = (await daemon.docker_ok("ps", "-a", "--format", "{{.Names}}")).split()
    assert {"ps-up", "ps-done"} <= set(names)
    exited = await daemon.docker_ok(
        "ps",
        "-a",
        "--filter",
        "status=exited",
        "--filter",
        "exited=4",
        "--format",
        "{{.Names}}",
    )
    assert exited.split() == ["ps-done"]
    labelled = await daemon.docker_ok("ps", "--filter", "label=tier=web", "--format", "{{.Names}}")
    assert labelled.split() == ["ps-up"]
    by_name = await daemon.docker_ok(
        "ps", "-a", "--filter", "name=ps-do", "--format", "{{.Status}}"
    )
    assert by_name.startswith("Exited (4)")
    await daemon.docker_ok("rm", "-f", "ps-up", "ps-done")


async def test_inspect_fields(daemon: RunningDaemon) -> None:
    await daemon.docker_ok(
        "create",
        "--name",
        "insp",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "--hostname",
        "box",
        "busybox",
        "env",
    )
    doc = json.loads(await daemon.docker_ok("container", "inspect", "insp"))[0]
    assert doc["Name"] == "/insp"
    assert doc["State"]["Status"] == "created" and doc["State"]["Pid"] == 0
    assert doc["Path"] == "env" and doc["Args"] == []
    assert "A=1" in doc["Config"]["Env"] and doc["Config"]["WorkingDir"] == "/tmp"
    assert doc["Config"]["Hostname"] == "box" and doc["Config"]["Image"] == "busybox"
    assert doc["HostConfig"]["Runtime"] == "runc"
    assert doc["Image"].startswith("sha256:")
    out = await daemon.docker_ok("start", "-a", "insp")
    assert "A=1" in out.split() and "HOSTNAME=box" in out.split()
    await daemon.docker_ok("rm", "insp")


async def test_kill_signal_restart_wait(daemon: RunningDaemon) -> None:
    script = "trap 'echo got-usr1' USR1; echo ready; while true; do sleep 0.1; done"
    await daemon.docker_ok("run", "-d", "--name", "sig", "busybox", "sh", "-c", script)
    await _wait_log(daemon, "sig", "ready")
    await daemon.docker_ok("kill", "-s", "USR1", "sig")
    await _wait_log(daemon, "sig", "got-usr1")
    await daemon.docker_ok("restart", "-t", "1", "sig")
    state = json.loads(await daemon.docker_ok("container", "inspect", "sig"))[0]
    assert state["State"]["Status"] == "running" and state["RestartCount"] == 0
    waiter = asyncio.ensure_future(daemon.docker("wait", "sig"))
    await daemon.docker_ok("kill", "sig")
    code, out, _ = await waiter
    assert (code, out.strip()) == (0, "137")
    await daemon.docker_ok("rm", "sig")


async def _wait_log(daemon: RunningDaemon, name: str, text: str, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while text not in await daemon.docker_ok("logs", name):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_pause_unpause_rename(daemon: RunningDaemon) -> None:
    await daemon.docker_ok("run", "-d", "--name", "frozen", "busybox", "sleep", "300")
    await daemon.docker_ok("pause", "frozen")
    status = await daemon.docker_ok(
        "inspect", "--format", "{{.State.Status}} {{.State.Paused}}", "frozen"
    )
    assert status.strip() == "paused true"
    code, _, err = await daemon.docker("exec", "frozen", "true")
    assert code != 0 and "is paused, unpause the container before exec" in err
    await daemon.docker_ok("unpause", "frozen")
    await daemon.docker_ok("rename", "frozen", "thawed")
    assert (
        await daemon.docker_ok("inspect", "--format", "{{.State.Status}}", "thawed")
    ).strip() == "running"
    code, _, err = await daemon.docker("inspect", "frozen")
    assert code == 1
    await daemon.docker_ok("rm", "-f", "thawed")


# The first run is OOM-killed; the rootfs keeps its marker, so the next run just sleeps.
ONCE = (
    "if [ -e /once ]; then exec sleep 300; fi; touch /once; "
    "dd if=/dev/zero of=/dev/null bs=200M count=1"
)


async def test_oom_kill_sets_and_clears_oomkilled(daemon: RunningDaemon) -> None:
    code, _, err = await daemon.docker(
        "run", "--name", "oomer", "--memory", "20m", "busybox", "sh", "-c", ONCE
    )
    assert code == 137, err
    fmt = "{{.State.OOMKilled}} {{.State.ExitCode}}"
    async with asyncio.timeout(10):
        # The OOM event may follow the exit (the shim reports them independently).
        while (await daemon.docker_ok("inspect", "--format", fmt, "oomer")).strip() != "true 137":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await daemon.docker_ok("start", "oomer")
    fmt = "{{.State.Status}} {{.State.OOMKilled}}"
    assert (await daemon.docker_ok("inspect", "--format", fmt, "oomer")).strip() == "running false"
    await daemon.docker_ok("rm", "-f", "oomer")


async def test_run_t_and_exec_t_under_a_pty(daemon: RunningDaemon) -> None:
    code, out = await docker_tty(
        daemon, "run", "-t", "--rm", "busybox", "sh", "-c", "tty; echo done"
    )
    assert code == 0, out
    # The container's pty ends lines with \r\n (the host-side pty may add its own \r).
    assert b"/dev/pts/" in out and b"done\r" in out
    await daemon.docker_ok("run", "-d", "--name", "ttyhost", "busybox", "sleep", "300")
    code, out = await docker_tty(daemon, "exec", "-t", "ttyhost", "sh", "-c", "tty; echo inside")
    assert code == 0, out
    assert b"/dev/pts/" in out and b"inside\r" in out
    await daemon.docker_ok("rm", "-f", "ttyhost")


async def test_stopped_containers_survive_a_daemon_restart(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    async with running_daemon(containerd, busybox_image) as first:
        code, out, _ = await first.docker(
            "run", "--name", "keeper", "busybox", "sh", "-c", "echo kept; exit 5"
        )
        assert (code, out) == (5, "kept\n")
        state_dir = first.services.config.data_root
    async with running_daemon(containerd, busybox_image, data_root=state_dir) as second:
        fmt = "{{.State.Status}} {{.State.ExitCode}} {{.Name}}"
        assert (
            await second.docker_ok("inspect", "--format", fmt, "keeper")
        ).strip() == "exited 5 /keeper"
        assert await second.docker_ok("logs", "keeper") == "kept\n"
        code, out, _ = await second.docker("start", "-a", "keeper")
        assert (code, out) == (5, "kept\n")
        await second.docker_ok("rm", "keeper")


def _read(path: Path) -> str:
    return path.read_text()


def _cap_line(status_text: str, key: str) -> int:
    for line in status_text.splitlines():
        if line.startswith(key):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {key} line")


def _cap_eff(status_text: str) -> int:
    return _cap_line(status_text, "CapEff:")


async def test_privileged_gets_the_daemons_bounding_set(daemon: RunningDaemon) -> None:
    bounding = privileged_mask()
    out = await daemon.docker_ok(
        "run", "--rm", "--privileged", "busybox", "cat", "/proc/self/status"
    )
    assert _cap_eff(out) == bounding
    out = await daemon.docker_ok(
        "run", "--rm", "--cap-drop", "ALL", "busybox", "cat", "/proc/self/status"
    )
    assert _cap_eff(out) == 0


async def test_etc_files_and_network_modes(daemon: RunningDaemon) -> None:
    out = await daemon.docker_ok(
        "run",
        "--rm",
        "--hostname",
        "boat",
        "--add-host",
        "dock:10.9.8.7",
        "--dns",
        "192.0.2.53",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hostname; grep dock /etc/hosts; grep nameserver /etc/resolv.conf",
    )
    lines = out.splitlines()
    assert lines[0] == "boat"
    assert lines[1].split() == ["10.9.8.7", "dock"]
    assert lines[2] == "nameserver 192.0.2.53"
    # none: loopback only; host: the host's network namespace and hostname.
    out = await daemon.docker_ok(
        "run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"
    )
    assert out.split() == ["lo"]
    out = await daemon.docker_ok("run", "--rm", "--network", "host", "busybox", "hostname")
    assert out.strip() == os.uname().nodename


async def test_mounts_limits_and_user(daemon: RunningDaemon, tmp_path: Path) -> None:
    host_dir = str(tmp_path)
    script = (
        "echo hello > /data/out; touch /root-file 2>/dev/null || echo read-only; "
        "echo t > /scratch/t && echo tmpfs-ok; ulimit -n; id -u"
    )
    out = await daemon.docker_ok(
        "run",
        "--rm",
        "-v",
        f"{host_dir}:/data",
        "--tmpfs",
        "/scratch",
        "--read-only",
        "--ulimit",
        "nofile=123:123",
        "busybox",
        "sh",
        "-c",
        script,
    )
    assert out.split() == ["read-only", "tmpfs-ok", "123", "0"]
    assert _read(Path(host_dir, "out")) == "hello\n"
    out = await daemon.docker_ok("run", "--rm", "--user", "nobody", "busybox", "id", "-u")
    assert out.strip() == "65534"
    code, _, err = await daemon.docker("run", "--rm", "--user", "nosuchuser", "busybox", "true")
    assert code != 0 and "unable to find user nosuchuser" in err
    # An unknown --group-add group too is a start error, not a create one (a 500 at create
    # until the API fuzz found it).
    await daemon.docker_ok("create", "--name", "nogroup", "--group-add", "nosuchgroup", "busybox")
    code, _, err = await daemon.docker("start", "nogroup")
    assert code != 0 and "Unable to find group nosuchgroup" in err
    await daemon.docker_ok("rm", "nogroup")


async def test_logs_since(daemon: RunningDaemon) -> None:
    await daemon.docker_ok("run", "--name", "since", "busybox", "echo", "old")
    # A container created after that run ended marks a time between its two runs' logs.
    await daemon.docker_ok("create", "--name", "since-mark", "busybox", "true")
    mark = (await daemon.docker_ok("inspect", "--format", "{{.Created}}", "since-mark")).strip()
    await daemon.docker_ok("start", "-a", "since")
    assert await daemon.docker_ok("logs", "since") == "old\nold\n"
    assert await daemon.docker_ok("logs", "--since", mark, "since") == "old\n"
    await daemon.docker_ok("rm", "since", "since-mark")


async def test_runtime_per_container(daemon: RunningDaemon) -> None:
    runtimes = ["io.containerd.runc.v2"]
    if not _cgroup_v2():  # containerd's v1 shim has no cgroup v2 support
        runtimes.append("io.containerd.runtime.v1.linux")
    for runtime in runtimes:
        name = f"rt-{runtime.rsplit('.', 1)[-1]}"
        out = await daemon.docker_ok(
            "run", "--name", name, "--runtime", runtime, "busybox", "echo", "ok"
        )
        assert out == "ok\n"
        shown = await daemon.docker_ok("inspect", "--format", "{{.HostConfig.Runtime}}", name)
        assert shown.strip() == runtime
        await daemon.docker_ok("rm", name)


def _cgroup_v2() -> bool:
    return Path("/sys/fs/cgroup/cgroup.controllers").exists()


async def test_running_container_survives_a_daemon_restart(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    script = "echo before; exec sleep 300"
    async with running_daemon(containerd, busybox_image) as first:
        await first.docker_ok("run", "-di", "--name", "survivor", "busybox", "sh", "-c", script)
        await _wait_log(first, "survivor", "before")
        pid = await first.docker_ok("inspect", "--format", "{{.State.Pid}}", "survivor")
        data_root = first.services.config.data_root
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        fmt = "{{.State.Status}} {{.State.Pid}}"
        assert (await second.docker_ok("inspect", "--format", fmt, "survivor")).split() == [
            "running",
            pid.strip(),
        ]
        assert await second.docker_ok("exec", "survivor", "echo", "exec-ok") == "exec-ok\n"
        await second.docker_ok("stop", "-t", "1", "survivor")
        assert (
            await second.docker_ok("inspect", "--format", "{{.State.ExitCode}}", "survivor")
        ).strip() == "137"
        assert "before" in await second.docker_ok("logs", "survivor")
        await second.docker_ok("rm", "survivor")


async def test_task_left_unstarted_by_a_crash_is_cleaned_at_restart(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    async with running_daemon(containerd, busybox_image) as first:
        await first.docker_ok("create", "--name", "halfway", "busybox", "echo", "started")
        live = first.services.daemon.get("halfway")
        assert live.lcd is not None
        # As if the daemon died between Tasks.Create and Tasks.Start.
        await live.lcd.new_task(StdioSpec())
        data_root = first.services.config.data_root
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        assert (
            await second.docker_ok("inspect", "--format", "{{.State.Status}}", "halfway")
        ).strip() in (
            "created",
            "exited",
        )
        code, out, err = await second.docker("start", "-a", "halfway")
        assert (code, out) == (0, "started\n"), err
        await second.docker_ok("rm", "halfway")


async def test_oom_is_seen_even_when_the_shim_misses_it(
    daemon: RunningDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shim starts watching for OOM only after start; a process that dies at once
    # can beat it. Dropping every OOM event reproduces that deterministically.
    backend = daemon.services.daemon
    original = backend.process_event

    async def without_oom(container_id: str, event_type: EventType, info: EventInfo) -> None:
        if event_type is not EventType.OOM:
            await original(container_id, event_type, info)

    monkeypatch.setattr(backend, "process_event", without_oom)
    code, _, err = await daemon.docker(
        "run",
        "--name",
        "oom-missed",
        "--memory",
        "20m",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=200M",
        "count=1",
    )
    assert code == 137, err
    fmt = "{{.State.OOMKilled}} {{.State.ExitCode}}"
    assert (await daemon.docker_ok("inspect", "--format", fmt, "oom-missed")).strip() == "true 137"
    await daemon.docker_ok("rm", "oom-missed")


async def test_ps_filter_by_id_and_ancestor(daemon: RunningDaemon) -> None:
    cid = (await daemon.docker_ok("create", "--name", "ancestry", "busybox", "true")).strip()
    image_id = (await daemon.docker_ok("inspect", "--format", "{{.Image}}", "ancestry")).strip()
    for ancestor in ("busybox", "busybox:latest", image_id, image_id[7:19]):
        out = await daemon.docker_ok(
            "ps", "-a", "--filter", f"ancestor={ancestor}", "--filter", f"id={cid[:10]}", "-q"
        )
        assert out.split() == [cid[:12]], ancestor
    out = await daemon.docker_ok("ps", "-a", "--filter", "ancestor=nosuchimage", "-q")
    assert out.strip() == ""
    await daemon.docker_ok("rm", "ancestry")


async def test_ps_before_and_since(daemon: RunningDaemon) -> None:
    names = ["order-a", "order-b", "order-c"]
    for name in names:
        await daemon.docker_ok("create", "--name", name, "busybox", "true")
    fmt = "{{.Names}}"
    since = await daemon.docker_ok("ps", "-a", "--filter", "since=order-a", "--format", fmt)
    assert [n for n in since.split() if n.startswith("order-")] == ["order-c", "order-b"]
    before = await daemon.docker_ok("ps", "-a", "--filter", "before=order-c", "--format", fmt)
    assert [n for n in before.split() if n.startswith("order-")] == ["order-b", "order-a"]
    code, _, err = await daemon.docker("ps", "-a", "--filter", "before=nosuch")
    assert code == 1 and "No such container: nosuch" in err
    await daemon.docker_ok("rm", *names)
