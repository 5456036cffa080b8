"""A private network namespace, and a `mooraged` process (with its own managed containerd)
living in it, for every test that makes bridges, veths or firewall rules.

The machine's own namespace is never touched: the namespace is made with `ip netns add`,
processes enter it with `nsenter --net=` (not `ip netns exec`, which remounts /sys and
hides the cgroup mounts the daemon needs), and teardown kills every process started in
it, sweeps the daemon's directories and deletes the namespace, which takes every link,
address and rule made inside it along.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.commands import COMMAND_TIMEOUT, Result, run_command
from tests.support.containerd import processes_using, sweep
from tests.support.daemon import docker_env
from tests.support.images import write_docker_save
from tests.support.mooraged import MOORAGED

NETNS_DIR = Path("/run/netns")
NAME_PREFIX = "moorage-t-"
DAEMON_START_TIMEOUT = 60.0
DAEMON_STOP_TIMEOUT = 30.0


def namespace_names() -> set[str]:
    """Names of the named network namespaces that exist now."""
    try:
        return set(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return set()


class PrivateNetns:
    """A named network namespace of the test's own, with only `lo` (up) in it."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    @classmethod
    async def create(cls) -> PrivateNetns:
        netns = cls(NAME_PREFIX + secrets.token_hex(4))
        made = await run_command(["ip", "netns", "add", netns.name])
        if made.returncode:
            raise RuntimeError(f"ip netns add {netns.name}: {made.stderr.strip()}")
        try:
            await netns.check("ip", "link", "set", "lo", "up")
        except BaseException:
            await netns.delete()
            raise
        return netns

    def argv(self, *command: str) -> list[str]:
        """`command` as run inside the namespace (network only; mounts are the host's)."""
        return ["nsenter", f"--net={self.path}", "--", *command]

    async def run(
        self,
        *command: str,
        stdin: bytes | None = None,
        timeout: float = COMMAND_TIMEOUT,
        env: dict[str, str] | None = None,
    ) -> Result:
        return await run_command(self.argv(*command), env=env, stdin=stdin, timeout=timeout)

    async def check(self, *command: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """`run` that must succeed; its stdout."""
        result = await self.run(*command, timeout=timeout)
        if result.returncode:
            raise AssertionError(f"{' '.join(command)}: exit {result.returncode}: {result.stderr}")
        return result.stdout

    async def python(self, source: str, timeout: float = COMMAND_TIMEOUT) -> Result:
        """A Python one-liner (or script) run inside the namespace."""
        return await self.run(sys.executable, "-c", source, timeout=timeout)

    async def delete(self) -> None:
        await run_command(["ip", "netns", "delete", self.name])


@dataclass
class NetnsDaemon:
    """A `mooraged` process inside `netns`, with the containerd it manages there too."""

    netns: PrivateNetns
    workdir: Path
    process: asyncio.subprocess.Process
    extra_args: tuple[str, ...] = ()

    @property
    def socket(self) -> Path:
        return self.workdir / "moorage.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def data_root(self) -> Path:
        return self.workdir / "data"

    @property
    def exec_root(self) -> Path:
        return self.workdir / "exec"

    def env(self) -> dict[str, str]:
        """The docker CLI's environment for this daemon."""
        return docker_env(self.host, config=self.workdir / "docker-config")

    async def docker(
        self, *args: str, stdin: bytes | None = None, timeout: float = COMMAND_TIMEOUT
    ) -> Result:
        """The docker CLI, run in the host namespace (it only needs the unix socket)."""
        return await run_command(["docker", *args], env=self.env(), stdin=stdin, timeout=timeout)

    async def docker_ok(self, *args: str, stdin: bytes | None = None) -> str:
        result = await self.docker(*args, stdin=stdin)
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
        return result.stdout

    async def wait_ready(self, timeout: float = DAEMON_START_TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"mooraged exited early ({self.process.returncode})")
                probe = await self.docker("version", "--format", "{{.Server.APIVersion}}")
                if probe.returncode == 0:
                    return
                await asyncio.sleep(0.1)  # polling the socket until it answers, bounded above


async def _spawn_daemon(
    netns: PrivateNetns, workdir: Path, extra_args: tuple[str, ...] = ()
) -> asyncio.subprocess.Process:
    log = os.open(workdir / "mooraged.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        return await asyncio.create_subprocess_exec(
            *netns.argv(
                *MOORAGED,
                "-H",
                f"unix://{workdir / 'moorage.sock'}",
                "--data-root",
                str(workdir / "data"),
                "--exec-root",
                str(workdir / "exec"),
                "--config-file",
                str(workdir / "daemon.json"),
                *extra_args,
            ),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    finally:
        os.close(log)


async def start_netns_daemon(
    netns: PrivateNetns,
    workdir: Path,
    daemon_json: dict[str, Any] | None = None,
    extra_args: tuple[str, ...] = (),
) -> NetnsDaemon:
    """`extra_args`: more mooraged flags (a TCP listener inside the namespace, say)."""
    # A daemon.json of its own, so that /etc/moorage/daemon.json cannot interfere; with
    # live restore, as tests restart the daemon over running containers (SIGTERM).
    (workdir / "daemon.json").write_text(json.dumps({"live-restore": True, **(daemon_json or {})}))
    process = await _spawn_daemon(netns, workdir, extra_args)
    daemon = NetnsDaemon(netns, workdir, process, extra_args)
    await daemon.wait_ready()
    return daemon


async def stop_netns_daemon(daemon: NetnsDaemon, sig: int = signal.SIGTERM) -> int:
    """Stop the daemon process by `sig` (SIGKILL after a timeout); its exit status. With
    SIGTERM its managed containerd stops with it; containers live on in their shims."""
    if daemon.process.returncode is None:
        daemon.process.send_signal(sig)
        try:
            async with asyncio.timeout(DAEMON_STOP_TIMEOUT):
                await daemon.process.wait()
        except TimeoutError:
            daemon.process.kill()
            await daemon.process.wait()
    return daemon.process.returncode or 0


async def restart_netns_daemon(
    daemon: NetnsDaemon,
    sig: int = signal.SIGTERM,
    while_down: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """The same daemon (same directories, same namespace) stopped and started again;
    `while_down` runs between the two."""
    await stop_netns_daemon(daemon, sig)
    if while_down is not None:
        await while_down()
    daemon.process = await _spawn_daemon(daemon.netns, daemon.workdir, daemon.extra_args)
    await daemon.wait_ready()


@asynccontextmanager
async def netns_daemon(
    load_busybox: bool = True,
    daemon_json: dict[str, Any] | None = None,
    before_start: Callable[[PrivateNetns], Awaitable[None]] | None = None,
    extra_args: tuple[str, ...] = (),
) -> AsyncIterator[NetnsDaemon]:
    """A private namespace with a mooraged in it (busybox:latest loaded; `daemon_json`:
    more daemon.json keys; `extra_args`: more flags); `before_start` prepares the namespace
    before the daemon first sees it. On exit nothing of either is left: no process, no
    mount, no directory, no namespace."""
    netns = await PrivateNetns.create()
    workdir = Path(tempfile.mkdtemp(prefix="moorage-netns-"))
    daemon: NetnsDaemon | None = None
    try:
        if before_start is not None:
            await before_start(netns)
        daemon = await start_netns_daemon(netns, workdir, daemon_json, extra_args)
        if load_busybox:
            archive = workdir / "busybox.tar"
            write_docker_save(archive, ["busybox:latest"])
            await daemon.docker_ok("load", "-i", str(archive))
        yield daemon
    finally:
        if daemon is not None:
            with contextlib.suppress(Exception):
                await stop_netns_daemon(daemon)
        await asyncio.to_thread(sweep, str(workdir))
        await netns.delete()


def leftovers(daemon: NetnsDaemon) -> list[str]:
    """What of a torn-down `netns_daemon` is still there (for the harness's own test)."""
    found: list[str] = []
    if daemon.netns.name in namespace_names():
        found.append(f"namespace {daemon.netns.name}")
    if daemon.workdir.exists():
        found.append(f"directory {daemon.workdir}")
    found += [f"process {pid}" for pid in processes_using(str(daemon.workdir))]
    return found
