"""`mooraged` as its own process (so that a test can kill -9 it), the docker CLI pointed at
it, and the check that what it shows agrees with what its containerd namespace holds."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.containerd import list_containers, list_tasks, processes_using, snapshot_rows
from tests.support.daemon import docker_env

# How tests start the daemon as its own process.
MOORAGED = (sys.executable, "-m", "mooraged")

# What systemd does between fork and exec for socket activation: the socket at fd 3, and
# LISTEN_PID naming the process that execs the daemon (argv: the socket's fd, the command).
_ACTIVATE = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])
"""

START_TIMEOUT = 60.0


@dataclass
class Mooraged:
    """One data root and socket; `start()` again after `kill()` is a restart."""

    workdir: Path
    containerd: str = ""  # empty: mooraged runs its own
    namespace: str = "moorage"
    proc: asyncio.subprocess.Process | None = None
    starts: int = field(default=0)
    extra_args: tuple[str, ...] = ()  # more mooraged flags, e.g. a TLS listener
    # More daemon.json keys; with settings_in_file, the test's own settings (socket, roots,
    # namespace, no bridge) go in daemon.json too instead of being flags.
    daemon_json: dict[str, Any] = field(default_factory=dict)
    settings_in_file: bool = False
    env: dict[str, str] = field(default_factory=dict)  # more environment variables
    # A listening socket handed over as systemd does (fd 3, LISTEN_FDS/LISTEN_PID), served
    # through -H fd:// (it should listen at `socket`, where the CLI goes).
    activated: socket.socket | None = None

    @property
    def socket(self) -> Path:
        return self.workdir / "moorage.sock"

    @property
    def exec_root(self) -> Path:
        return self.workdir / "exec"

    @property
    def containerd_address(self) -> str:
        return self.containerd or str(self.exec_root / "containerd" / "containerd.sock")

    @property
    def log_path(self) -> Path:
        return self.workdir / "mooraged.log"

    @property
    def config_file(self) -> Path:
        return self.workdir / "daemon.json"

    def settings(self) -> dict[str, Any]:
        """The test's own settings, as daemon.json keys."""
        return {
            "hosts": ["fd://" if self.activated else f"unix://{self.socket}"],
            "data-root": str(self.workdir / "data"),
            "exec-root": str(self.exec_root),
            "containerd-namespace": self.namespace,
            # It runs in the machine's own network namespace: no bridge may be made there.
            "bridge": "none",
        }

    def argv(self) -> list[str]:
        """mooraged's command line (and daemon.json written for it)."""
        flags: list[str] = []
        file = dict(self.daemon_json)
        if self.settings_in_file:
            file = {**self.settings(), **file}
        else:
            for key, value in self.settings().items():
                for item in value if isinstance(value, list) else [value]:
                    flags += [f"--{'host' if key == 'hosts' else key}", item]
        self.config_file.write_text(json.dumps(file))
        argv = [*MOORAGED, "--config-file", str(self.config_file), *flags]
        if self.containerd:
            argv += ["--containerd", self.containerd]
        return argv + list(self.extra_args)

    async def start(self) -> None:
        argv = self.argv()
        pass_fds: tuple[int, ...] = ()
        if self.activated is not None:
            fd = self.activated.fileno()
            argv = [sys.executable, "-c", _ACTIVATE, str(fd), *argv]
            pass_fds = (fd,)
        log = self.log_path.open("ab")  # the child keeps its own copy of the fd
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *argv,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, **self.env},
                pass_fds=pass_fds,
            )
        finally:
            log.close()
        self.starts += 1
        # Restore runs before the socket serves: the first answer means it is done.
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                code, _, _ = await self.docker("version", "--format", "{{.Server.APIVersion}}")
                if code == 0:
                    return
                assert self.proc.returncode is None, self.log_tail()
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        assert self.proc is not None
        return await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_lines(self, needle: str) -> list[str]:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if needle in line]

    async def docker(self, *args: str, timeout: float = 60.0) -> tuple[int, str, str]:
        env = docker_env(f"unix://{self.socket}", config=self.workdir / "docker-config")
        proc = await asyncio.create_subprocess_exec(
            "docker",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            async with asyncio.timeout(timeout):
                out, err = await proc.communicate()
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def containers(self) -> list[dict[str, Any]]:
        """Every container, as `docker inspect` shows it (through the API directly)."""
        connector = aiohttp.UnixConnector(path=str(self.socket))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get("http://moorage/v1.41/containers/json?all=1") as response:
                assert response.status == 200
                listed = json.loads(await response.read())
            found = []
            for entry in listed:
                async with session.get(f"http://moorage/v1.41/containers/{entry['Id']}/json") as r:
                    if r.status == 200:
                        found.append(json.loads(await r.read()))
            return found


@dataclass(frozen=True)
class Disagreement:
    problems: list[str]
    containers: int
    running: int

    def __bool__(self) -> bool:
        return bool(self.problems)


async def check_agreement(daemon: Mooraged) -> Disagreement:
    """What moorage shows against what its containerd namespace holds.

    Every container is running exactly when its task runs, with the task's pid; one not
    running has no task left; every container has its containerd container; containerd
    holds no container, task or active snapshot moorage does not know (image layers,
    committed snapshots, are not containers').
    """
    shown: dict[str, dict[str, Any]] = {c["Id"]: c for c in await daemon.containers()}
    address, namespace = daemon.containerd_address, daemon.namespace
    ctr_containers = set(await list_containers(address, namespace))
    tasks = {t.id: t for t in await list_tasks(address, namespace)}
    active = {s.key for s in await snapshot_rows(address, namespace) if s.kind == "Active"}
    problems = []
    running = 0
    for cid, inspect in shown.items():
        state = inspect["State"]
        task = tasks.get(cid)
        name = f"{inspect['Name']} ({cid[:12]}, {state['Status']})"
        if cid not in ctr_containers:
            problems.append(f"{name}: no containerd container")
        if state["Running"]:
            running += 1
            if task is None or task.status not in ("RUNNING", "PAUSED"):
                problems.append(f"{name}: shown running, task {task}")
            elif task.pid != state["Pid"]:
                problems.append(f"{name}: pid {state['Pid']}, task pid {task.pid}")
        elif task is not None:
            problems.append(f"{name}: not running, but containerd has task {task}")
    for cid in ctr_containers - set(shown):
        problems.append(f"containerd container {cid[:12]} unknown to moorage")
    for cid in set(tasks) - set(shown):
        problems.append(f"task {cid[:12]} ({tasks[cid].status}) unknown to moorage")
    for key in active - set(shown):
        problems.append(f"active snapshot {key[:12]} unknown to moorage")
    return Disagreement(problems, len(shown), running)


async def namespace_leftovers(daemon: Mooraged) -> list[str]:
    """Containers, tasks and container snapshots still in the namespace."""
    address, namespace = daemon.containerd_address, daemon.namespace
    left = [f"container {c}" for c in await list_containers(address, namespace)]
    left += [f"task {t.id} {t.status}" for t in await list_tasks(address, namespace)]
    left += [
        f"snapshot {s.key}" for s in await snapshot_rows(address, namespace) if s.kind == "Active"
    ]
    return left


def managed_containerd_pid(workdir: Path) -> int:
    """The containerd a mooraged with its data under `workdir` started for itself."""
    for pid in processes_using(str(workdir)):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd") and b"--config" in argv:
            return pid
    raise AssertionError("no managed containerd")
