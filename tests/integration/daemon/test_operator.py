"""mooraged as an operator runs it (issue 15): shutdown with and without live restore,
daemon.json with every supported key, refused configurations, SIGHUP reload, and systemd's
socket activation and readiness notification. Real daemons, each its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from tests.support.certs import issue, make_ca
from tests.support.containerd import ImportedImage, TestContainerd, list_tasks, sweep
from tests.support.daemon import docker_env
from tests.support.fakeservers import CuttingProxy
from tests.support.images import build_busybox_layer, build_image, file_layer, write_docker_save
from tests.support.mooraged import MOORAGED, Mooraged, check_agreement
from tests.support.registry import Registry

DEADLINE = 60.0


@pytest_asyncio.fixture(loop_scope="session")
async def workdir() -> AsyncIterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="operator-"))
    try:
        yield path
    finally:
        await asyncio.to_thread(sweep, str(path))


def _daemon(workdir: Path, containerd: TestContainerd, **kwargs: Any) -> Mooraged:
    path = workdir / secrets.token_hex(3)
    path.mkdir()
    return Mooraged(path, containerd.address, f"op-{secrets.token_hex(4)}", **kwargs)


async def _loaded(daemon: Mooraged, image: ImportedImage) -> None:
    await daemon.start()
    code, out, err = await daemon.docker("load", "-i", str(image.archive))
    assert code == 0, out + err


async def _ok(daemon: Mooraged, *args: str) -> str:
    code, out, err = await daemon.docker(*args)
    assert code == 0, f"docker {' '.join(args)}: {err}\n{daemon.log_tail()}"
    return out


async def _inspect(daemon: Mooraged, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(await _ok(daemon, "inspect", name))[0]
    return found


def _catches(pid: int, signum: int) -> bool:
    """The process has a handler for `signum` (so a stop signal reaches a shell's trap)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def _until(check: Any, what: str, deadline: float = DEADLINE) -> Any:
    """Poll `check()` (sync or async) until it returns something true, within `deadline`."""
    async with asyncio.timeout(deadline):
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover


async def _follow_events(
    daemon: Mooraged, into: list[dict[str, Any]], ready: asyncio.Event
) -> None:
    """Container events as a `docker events` client gets them, until the daemon ends the
    stream (at its shutdown)."""
    connector = aiohttp.UnixConnector(path=str(daemon.socket))
    timeout = aiohttp.ClientTimeout(total=None)
    filters = json.dumps({"type": ["container"]})
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        session.get("http://moorage/v1.41/events", params={"filters": filters}) as response,
    ):
        ready.set()
        with contextlib.suppress(aiohttp.ClientError):
            async for line in response.content:
                if line.strip():
                    into.append(json.loads(line))


async def _sigterm_and_wait(daemon: Mooraged) -> tuple[int, float]:
    assert daemon.proc is not None
    started = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(DEADLINE):
        code = await daemon.proc.wait()
    return code, time.monotonic() - started


# A stop signal the shell traps: it takes 2 s to finish, then exits with a code of its own.
_TRAP_TERM = "trap 'sleep 2; exit 7' TERM; sleep 300 & wait"
_TRAP_USR1 = "trap 'sleep 2; exit 9' USR1; sleep 300 & wait"


async def test_shutdown_without_live_restore_stops_containers_in_parallel(
    containerd: TestContainerd, busybox_image: ImportedImage, workdir: Path
) -> None:
    daemon = _daemon(workdir, containerd, extra_args=("--shutdown-timeout", "15"))
    await _loaded(daemon, busybox_image)
    expected: dict[str, int] = {}
    runs = [[f"term-{i}", "busybox", "sh", "-c", _TRAP_TERM] for i in range(7)]
    runs.append(["policy", "--restart", "unless-stopped", "busybox", "sh", "-c", _TRAP_TERM])
    runs.append(["usr1", "--stop-signal", "USR1", "busybox", "sh", "-c", _TRAP_USR1])
    # sleep as pid 1 ignores SIGTERM: killed once its 2 s stop timeout is over.
    runs.append(["deaf", "--stop-timeout", "2", "busybox", "sleep", "300"])
    try:
        for name, *rest in runs:
            await _ok(daemon, "run", "-d", "--name", name, *rest)
            expected[name] = {"usr1": 9, "deaf": 137}.get(name, 7)
        for name in expected:
            pid = (await _inspect(daemon, name))["State"]["Pid"]
            wanted = signal.SIGUSR1 if name == "usr1" else signal.SIGTERM
            if name != "deaf":
                await _until(lambda p=pid, s=wanted: _catches(p, s), f"{name}'s trap")
        ids = {name: (await _inspect(daemon, name))["Id"] for name in expected}
        events: list[dict[str, Any]] = []
        ready = asyncio.Event()
        follower = asyncio.create_task(_follow_events(daemon, events, ready))
        await asyncio.wait_for(ready.wait(), DEADLINE)

        code, took = await _sigterm_and_wait(daemon)
        await asyncio.wait_for(follower, DEADLINE)
        assert code == 0, daemon.log_tail()
        # Ten containers that take 2 s each: one after the other would be 20 s or more.
        print(f"shutdown stopped {len(expected)} containers in {took:.2f} s")
        assert 2.0 <= took < 10.0, took
        dies = {e["id"]: e for e in events if e["Action"] == "die"}
        for name, cid in ids.items():
            assert dies[cid]["Actor"]["Attributes"]["exitCode"] == str(expected[name]), name
        kills = {
            (e["id"], e["Actor"]["Attributes"]["signal"]) for e in events if e["Action"] == "kill"
        }
        assert (ids["usr1"], str(int(signal.SIGUSR1))) in kills
        assert (ids["deaf"], str(int(signal.SIGKILL))) in kills
        # No restart policy acts on an exit at shutdown.
        assert not [e for e in events if e["Action"] == "start"]
        assert await list_tasks(daemon.containerd_address, daemon.namespace) == []

        await daemon.start()
        # As dockerd: the restore starts what its policy restarts before the API answers.
        policy = (await _inspect(daemon, "policy"))["State"]
        assert (policy["Status"], policy["Running"]) == ("running", True), policy
        for name, exit_code in expected.items():
            state = (await _inspect(daemon, name))["State"]
            if name == "policy":
                # Stopped by the shutdown, not by hand: its policy starts it again.
                assert state["Status"] == "running", state
            else:
                assert (state["Status"], state["ExitCode"]) == ("exited", exit_code), name
        found = await check_agreement(daemon)
        assert not found, "\n".join(found.problems)
    finally:
        await daemon.stop()


async def test_third_interrupt_forces_the_shutdown(
    containerd: TestContainerd, busybox_image: ImportedImage, workdir: Path
) -> None:
    daemon = _daemon(workdir, containerd)
    await _loaded(daemon, busybox_image)
    try:
        # A stop that would take a minute: it ignores its stop signal, long stop timeout.
        await _ok(daemon, "run", "-d", "--name", "stubborn", "--stop-timeout", "60",
                  "busybox", "sleep", "300")  # fmt: skip
        pid = (await _inspect(daemon, "stubborn"))["State"]["Pid"]
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        await _until(lambda: daemon.log_lines("stopping 1 containers"), "the shutdown began")
        daemon.proc.send_signal(signal.SIGTERM)
        # One at a time: signals sent together may arrive as one.
        await _until(lambda: daemon.log_lines("interrupt 2 received"), "second interrupt")
        daemon.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(DEADLINE):
            assert await daemon.proc.wait() == 128 + signal.SIGTERM
        assert daemon.log_lines("forcing shutdown without cleanup; 3 interrupts received")
        assert _alive(pid)  # left as it was
        await daemon.start()
        assert (await _inspect(daemon, "stubborn"))["State"]["Pid"] == pid
        await _ok(daemon, "rm", "-f", "stubborn")
    finally:
        await daemon.stop()


async def _running_pids(daemon: Mooraged, names: list[str]) -> dict[str, int]:
    pids = {}
    for name in names:
        state = (await _inspect(daemon, name))["State"]
        assert state["Running"], (name, state)
        pids[name] = state["Pid"]
    return pids


async def test_live_restore_keeps_containers_running(
    containerd: TestContainerd, busybox_image: ImportedImage, workdir: Path
) -> None:
    daemon = _daemon(workdir, containerd, extra_args=("--live-restore",))
    await _loaded(daemon, busybox_image)
    names = [f"keep-{i}" for i in range(10)]
    try:
        for name in names:
            await _ok(daemon, "run", "-d", "--name", name, "busybox", "sleep", "300")
        pids = await _running_pids(daemon, names)
        assert (await _ok(daemon, "info", "--format", "{{.LiveRestoreEnabled}}")).strip() == "true"
        # The flag, then the same from daemon.json: each shutdown leaves the ten running.
        for way in ("flag", "file"):
            code, took = await _sigterm_and_wait(daemon)
            assert code == 0, daemon.log_tail()
            tasks = {t.id: t for t in await list_tasks(daemon.containerd_address, daemon.namespace)}
            assert sorted(t.pid for t in tasks.values() if t.status == "RUNNING") == sorted(
                pids.values()
            ), way
            if way == "flag":
                daemon.extra_args, daemon.daemon_json = (), {"live-restore": True}
            await daemon.start()
            assert await _running_pids(daemon, names) == pids, way
            print(f"live restore ({way}): shutdown took {took:.2f} s, 10 containers kept")
        found = await check_agreement(daemon)
        assert not found, "\n".join(found.problems)
        await _ok(daemon, "rm", "-f", *names)
    finally:
        await daemon.stop()


def _seccomp_denying_mkdir(path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
            }
        )
    )
    return path


async def test_daemon_json_with_every_supported_key(
    containerd: TestContainerd, busybox_image: ImportedImage, workdir: Path
) -> None:
    daemon = _daemon(workdir, containerd, settings_in_file=True)
    pki = daemon.workdir / "pki"
    pki.mkdir()
    ca = make_ca(pki, "ca")
    server = issue(ca, pki, "server", server=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        tcp = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics = f"127.0.0.1:{probe.getsockname()[1]}"
    pidfile = daemon.workdir / "run" / "mooraged.pid"
    daemon.daemon_json = {
        "hosts": [f"unix://{daemon.socket}", tcp],
        "group": "nogroup",
        "pidfile": str(pidfile),
        "containerd": containerd.address,
        "debug": True,
        "log-level": "debug",
        "log-format": "json",
        "live-restore": False,
        "shutdown-timeout": 20,
        "labels": ["site=test", "tier=ops"],
        "metrics-addr": metrics,
        "default-runtime": "runc",
        "runtimes": {"alt": {"path": "runc"}},
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "cgroup-parent": f"/moorage-op-{secrets.token_hex(3)}",
        "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1234, "Hard": 2345}},
        "default-shm-size": "96M",
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "2"},
        "no-new-privileges": True,
        "seccomp-profile": str(_seccomp_denying_mkdir(daemon.workdir / "seccomp.json")),
        "dns": ["192.0.2.53"],
        "dns-search": ["example.test"],
        "dns-opts": ["ndots:2"],
        "bip": "10.44.0.1/24",
        "fixed-cidr": "10.44.0.128/25",
        "default-address-pools": [{"base": "10.45.0.0/16", "size": 24}],
        "iptables": False,
        "ip-forward": False,
        "ip-masq": False,
        "max-concurrent-downloads": 2,
        "max-concurrent-uploads": 4,
        "registry-mirrors": ["https://mirror.example.test"],
        "insecure-registries": ["registry.example.test:5000", "10.9.0.0/16"],
        "tls": True,
        "tlsverify": True,
        "tlscacert": str(ca.cert),
        "tlscert": str(server.cert),
        "tlskey": str(server.key),
        "allow-insecure-tcp": False,
    }
    # With the containerd named in the file, the test's own --containerd flag must go.
    daemon.containerd = ""
    await _loaded(daemon, busybox_image)
    try:
        info = json.loads(await _ok(daemon, "info", "--format", "{{json .}}"))
        assert info["Labels"] == ["site=test", "tier=ops"]
        assert info["Debug"] is True and info["LiveRestoreEnabled"] is False
        assert (info["LoggingDriver"], info["CgroupDriver"]) == ("json-file", "cgroupfs")
        assert info["DefaultRuntime"] == "runc" and set(info["Runtimes"]) >= {"runc", "alt"}
        assert info["RegistryConfig"]["Mirrors"] == ["https://mirror.example.test/"]
        assert "10.9.0.0/16" in info["RegistryConfig"]["InsecureRegistryCIDRs"]
        assert (
            info["RegistryConfig"]["IndexConfigs"]["registry.example.test:5000"]["Secure"] is False
        )
        profile = daemon.daemon_json["seccomp-profile"]
        assert f"name=seccomp,profile={profile}" in info["SecurityOptions"]
        text = await _ok(daemon, "info")
        for line in ("Live Restore Enabled: false", "site=test", "https://mirror.example.test/",
                     "registry.example.test:5000", "Debug Mode: true"):  # fmt: skip
            assert line in text, line

        # The container defaults take effect in a container that sets none of them.
        script = (
            "cat /etc/resolv.conf; ulimit -n; ulimit -Hn; grep NoNewPrivs /proc/self/status; "
            "df -k /dev/shm | tail -1; cat /proc/self/cgroup | grep -m1 memory; "
            "mkdir /made 2>&1 || echo mkdir refused"
        )
        out = await _ok(daemon, "run", "--name", "defaults", "busybox", "sh", "-c", script)
        assert "nameserver 192.0.2.53" in out and "search example.test" in out, out
        assert "options ndots:2" in out, out
        assert "\n1234\n2345\n" in out, out
        assert "NoNewPrivs:\t1" in out, out
        assert " 98304 " in out, out  # 96M in 1 KiB blocks
        assert daemon.daemon_json["cgroup-parent"] + "/" in out, out
        assert "mkdir refused" in out, out
        log_config = (await _inspect(daemon, "defaults"))["HostConfig"]["LogConfig"]
        assert log_config == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}

        # The address options shape the networks (no link is made: bridge none).
        bridge = json.loads(await _ok(daemon, "network", "inspect", "bridge"))[0]
        assert bridge["IPAM"]["Config"][0]["Subnet"] == "10.44.0.0/24"
        await _ok(daemon, "network", "create", "pooled")
        pooled = json.loads(await _ok(daemon, "network", "inspect", "pooled"))[0]
        assert pooled["IPAM"]["Config"][0]["Subnet"] == "10.45.0.0/24"

        # PID file, socket group, the TLS listener and the metrics endpoint.
        assert daemon.proc is not None
        assert pidfile.read_text().strip() == str(daemon.proc.pid)
        assert daemon.socket.stat().st_gid == 65534  # nogroup
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://{metrics}/metrics") as r,
        ):
            assert r.status == 200
        env = docker_env(tcp, config=daemon.workdir / "cli")
        proc = await asyncio.create_subprocess_exec(
            "docker",
            "version",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        async with asyncio.timeout(DEADLINE):
            await proc.communicate()
        assert proc.returncode != 0  # TLS with client certificates: plain HTTP is refused
        # Log lines are JSON.
        last = daemon.log_path.read_text().strip().splitlines()[-1]
        assert json.loads(last)["level"] in ("debug", "info", "warning")

        # A second daemon with the same PID file is refused while the first runs.
        code, err = await _run_once("--config-file", str(daemon.config_file))
        assert (
            code == 1
            and f"pid file found, ensure moorage is not running or delete {pidfile}" in err
        )
    finally:
        await daemon.stop()
    assert not pidfile.exists()


async def _run_once(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *MOORAGED, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    async with asyncio.timeout(DEADLINE):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


async def test_bad_configurations_fail_at_start_and_in_validate(workdir: Path) -> None:
    base = workdir / "bad"
    base.mkdir()
    config = base / "daemon.json"
    flags = ["--config-file", str(config), "--data-root", str(base / "data"),
             "--exec-root", str(base / "exec"), "-H", f"unix://{base / 's.sock'}"]  # fmt: skip
    cases = [
        ('{"icc": false}', ["--bridge", "none"],
         "dockerd options moorage does not support: icc (containers on a bridge always"),
        ('{"userns-remap": "default", "storage-driver": "overlay2"}', ["--bridge", "none"],
         "storage-driver (images are stored by containerd's overlayfs snapshotter); "
         "userns-remap (user namespaces are not supported)"),
        ('{"no-such-key": 1}', ["--bridge", "none"],
         "the following directives don't match any configuration option: no-such-key"),
        ('{"debug": false, "bridge": "none"}', ["--debug"],
         "the following directives are specified both as a flag and in the configuration "
         "file: debug: (from flag: true, from file: false)"),
        ('{"debug": true,', ["--bridge", "none"],
         f"unable to configure the daemon with file {config}: "),
        ('{"live-restore": "yes"}', ["--bridge", "none"],
         "live-restore in the configuration file must be true or false"),
        ('{"exec-opts": ["native.cgroupdriver=systemd"]}', ["--bridge", "none"],
         "native.cgroupdriver=systemd is not supported"),
    ]  # fmt: skip
    for text, extra, message in cases:
        config.write_text(text)
        for validate in ([], ["--validate"]):
            code, out = await _run_once(*flags, *extra, *validate)
            assert code == 1, (text, validate, out)
            assert message in out, (text, validate, out)
    code, out = await _run_once(*flags, "--userland-proxy=false")
    assert code == 1 and "userland-proxy (" in out, out
    assert not (base / "data").exists()  # refused before anything was made
    config.write_text('{"live-restore": true, "labels": ["a=b"]}')
    code, out = await _run_once(*flags, "--bridge", "none", "--validate")
    assert (code, out.strip()) == (0, "configuration OK")
    code, out = await _run_once("--help")
    assert code == 0
    wanted = ["--live-restore", "--shutdown-timeout", "--pidfile", "--group", "--log-driver",
              "--default-ulimit", "--exec-opt", "--seccomp-profile", "--dns-opt"]  # fmt: skip
    for flag in wanted:
        assert flag in out, flag


async def test_sighup_reloads_debug_labels_and_mirrors(
    containerd: TestContainerd, busybox_image: ImportedImage, workdir: Path
) -> None:
    daemon = _daemon(workdir, containerd)
    daemon.daemon_json = {
        "debug": False,
        "labels": ["stage=one"],
        "registry-mirrors": ["https://one.example.test"],
        "live-restore": False,
    }
    await _loaded(daemon, busybox_image)
    try:
        await _ok(daemon, "run", "-d", "--name", "steady", "busybox", "sleep", "300")
        before = (await _inspect(daemon, "steady"))["State"]
        shown = "{{.Debug}} {{.Labels}} {{.RegistryConfig.Mirrors}} {{.LiveRestoreEnabled}}"
        assert (await _ok(daemon, "info", "--format", shown)).strip() == (
            "false [stage=one] [https://one.example.test/] false"
        )
        daemon.config_file.write_text(
            json.dumps(
                {
                    "debug": True,
                    "labels": ["stage=two", "extra=yes"],
                    "registry-mirrors": ["https://two.example.test"],
                    "live-restore": True,
                    "runtimes": {"alt": {"path": "runc"}},
                    "default-runtime": "alt",
                }
            )
        )
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)

        async def reloaded() -> bool:
            out = await _ok(daemon, "info", "--format", shown)
            return out.strip() == "true [stage=two extra=yes] [https://two.example.test/] true"

        await _until(reloaded, "docker info after SIGHUP")
        assert daemon.log_lines("reload: debug: false -> true")
        assert daemon.log_lines("reload: labels: [stage=one] -> [stage=two extra=yes]")
        # The running container is untouched; a new one gets the new default runtime.
        assert (await _inspect(daemon, "steady"))["State"] == before
        runtimes = await _ok(daemon, "info", "--format", "{{.DefaultRuntime}} {{json .Runtimes}}")
        assert runtimes.startswith("alt ") and '"alt"' in runtimes, runtimes
        await _ok(daemon, "run", "--name", "later", "busybox", "true")
        assert (await _inspect(daemon, "later"))["HostConfig"]["Runtime"] == "alt"
        # A broken file on reload changes nothing and the daemon goes on.
        daemon.config_file.write_text('{"debug": false, "icc": false}')
        daemon.proc.send_signal(signal.SIGHUP)
        await _until(lambda: daemon.log_lines("configuration unchanged"), "failed reload logged")
        assert (await _ok(daemon, "info", "--format", "{{.Debug}}")).strip() == "true"
        daemon.config_file.write_text(
            json.dumps({"live-restore": True, "runtimes": {"alt": {"path": "runc"}}})
        )
        code, _ = await _sigterm_and_wait(daemon)
        assert code == 0
        # live-restore, reloaded: the container outlived the daemon.
        await daemon.start()
        assert (await _inspect(daemon, "steady"))["State"]["Pid"] == before["Pid"]
        await _ok(daemon, "rm", "-f", "steady", "later")
    finally:
        await daemon.stop()


async def test_socket_activation_and_ready_notification(
    containerd: TestContainerd, busybox_image: ImportedImage, workdir: Path
) -> None:
    daemon = _daemon(workdir, containerd)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(daemon.socket))
    listener.listen(16)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(daemon.workdir / "notify.sock"))
    notify.setblocking(False)
    daemon.activated = listener
    daemon.env = {"NOTIFY_SOCKET": str(daemon.workdir / "notify.sock")}
    try:
        await _loaded(daemon, busybox_image)
        loop = asyncio.get_running_loop()
        message = await asyncio.wait_for(loop.sock_recv(notify, 256), DEADLINE)
        assert message == b"READY=1"
        out = await _ok(daemon, "run", "--rm", "busybox", "echo", "through fd 3")
        assert out == "through fd 3\n"
        code, _ = await _sigterm_and_wait(daemon)
        assert code == 0
        assert await asyncio.wait_for(loop.sock_recv(notify, 256), DEADLINE) == b"STOPPING=1"
    finally:
        await daemon.stop()
        listener.close()
        notify.close()

    # -H fd:// started without activation: a clear refusal, nothing served.
    plain = _daemon(workdir, containerd)
    plain.activated = None
    argv = [a if a != f"unix://{plain.socket}" else "fd://" for a in plain.argv()]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(DEADLINE):
        _, err = await proc.communicate()
    assert proc.returncode == 1
    assert (
        "no sockets found via socket activation: make sure the service was started by systemd"
        in err.decode()
    )


async def test_max_download_attempts_retries_a_broken_layer_download(
    containerd: TestContainerd, busybox_image: ImportedImage, workdir: Path, registry: Registry
) -> None:
    proxy = CuttingProxy(f"http://{registry.host}")
    await proxy.start()
    daemon = _daemon(workdir, containerd)
    daemon.daemon_json = {"max-download-attempts": 1}
    await _loaded(daemon, busybox_image)
    remote = f"{registry.host}/operator/retried:1"
    through_proxy = f"{proxy.host}/operator/retried:1"
    # A layer no containerd here has seen (a pull must download it), large enough to cut.
    image = build_image(
        [build_busybox_layer(), file_layer({"random": os.urandom(200_000)})],
        {"Cmd": ["sh", "-c", "wc -c < /random"]},
    )
    archive = daemon.workdir / "random.tar"
    write_docker_save(archive, [remote], image)
    try:
        await _ok(daemon, "load", "-i", str(archive))
        await _ok(daemon, "push", remote)
        await _ok(daemon, "rmi", remote)
        # One attempt: the broken download fails the pull.
        proxy.arm()
        code, out, err = await daemon.docker("pull", through_proxy)
        assert code != 0 and proxy.cuts == 1, out + err
        # Reloaded to three attempts: the layer is fetched again after dockerd's countdown.
        daemon.config_file.write_text(json.dumps({"max-download-attempts": 3}))
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        await _until(
            lambda: daemon.log_lines("reload: max-download-attempts: 1 -> 3"), "reload logged"
        )
        proxy.arm()
        out = await _ok(daemon, "pull", through_proxy)
        assert proxy.cuts == 2
        assert f"Status: Downloaded newer image for {through_proxy}" in out
        assert "Retrying in 5 seconds" in out
        assert (await _ok(daemon, "run", "--rm", through_proxy)).strip() == "200000"
    finally:
        await daemon.stop()
        await proxy.close()
