"""The two daemons under test, each started on the benchmark's private containerd.

An `Engine` is one running daemon: its process, its API socket and an aiohttp
session on that socket. Both are started the same way (own data and exec roots
under the benchmark's directory, own containerd namespace, an empty config file)
and stopped with SIGTERM, then SIGKILL.

dockerd 20.10 also writes two things outside the directories it is given:
/etc/docker/key.json (its trust key; no flag moves it) and /run/docker/plugins.
`HostFootprint` notes which of them existed before and removes the ones that did not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.containerd import TestContainerd, sweep
from tests.support.daemon import docker_env
from tests.support.images import write_docker_save

API = "/v1.41"
REPO = Path(__file__).resolve().parent.parent


def run_report(
    prog: str,
    parse: Callable[[list[str]], argparse.Namespace],
    runner: Callable[[argparse.Namespace], Coroutine[Any, Any, str]],
    argv: list[str] | None,
) -> int:
    """A benchmark's main: as root, its arguments parsed, the load noted, its report
    printed (and written to --out)."""
    if os.geteuid() != 0:
        print(f"{prog}: must run as root (containerd, runc)", file=sys.stderr)
        return 2
    args = parse(sys.argv[1:] if argv is None else argv)
    args.load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = asyncio.run(runner(args))
    if getattr(args, "out", ""):
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


def per_request_table(
    heading: str,
    results: dict[str, dict[str, list[float]]],
    kinds: Iterable[str],
    cell: Callable[[float], str],
) -> str:
    """A markdown table of per-request medians: one row per request kind, one column per
    tree (`results[tree][kind]` holds each round's number), under `heading`."""
    names = list(results)
    lines = [heading, "", "| request | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for kind in kinds:
        cells = [cell(statistics.median(results[name][kind])) for name in names]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def checkout_trees(
    p: argparse.ArgumentParser, specs: list[str], reserved: tuple[str, ...] = ()
) -> dict[str, Path]:
    """The `--tree NAME=PATH` options: other moorage checkouts to run beside this one,
    by name (a name a contender already has is refused, as is a path with no daemon)."""
    trees: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path, "daemon").is_dir() or name in reserved:
            p.error(f"--tree wants NAME=PATH of a moorage checkout: {spec}")
        trees[name] = Path(path).resolve()
    return trees


READY_TIMEOUT = 60.0
# Start-up is timed to the first answered /_ping: a coarser poll would add up to its period.
READY_POLL = 0.02
STOP_TIMEOUT = 20.0
LOG_TAIL_BYTES = 3000


class EngineError(RuntimeError):
    pass


@dataclass
class Engine:
    name: str
    argv: list[str]
    socket: Path
    log_path: Path
    cwd: Path = REPO  # the source tree the daemon runs from
    proc: asyncio.subprocess.Process | None = None
    session: aiohttp.ClientSession | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                return log.read().decode(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"

    async def start(self) -> None:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_fd,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.cwd,
                env=_clean_env(),
                # Its own session: a Ctrl-C on the benchmark reaches it only through stop().
                start_new_session=True,
            )
        finally:
            os.close(log_fd)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=str(self.socket)),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        assert self.proc is not None and self.session is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.returncode is not None:
                raise EngineError(
                    f"{self.name} exited with status {self.proc.returncode} during start-up;"
                    f" log tail:\n{self.log_tail()}"
                )
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with self.session.get("http://engine/_ping") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise EngineError(
                    f"{self.name} did not answer /_ping within {READY_TIMEOUT:g}s;"
                    f" log tail:\n{self.log_tail()}"
                )
            await asyncio.sleep(READY_POLL)

    async def request(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        """One Engine API call; the decoded JSON body (None if empty). Raises on >= 400."""
        assert self.session is not None
        async with self.session.request(
            method, f"http://engine{API}{path}", json=body, params=params or None
        ) as response:
            raw = await response.read()
            if response.status >= 400:
                raise EngineError(f"{method} {path}: {response.status} {raw[:300]!r}")
            return await response.json(content_type=None) if raw else None

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def in_private_netns(argv: list[str]) -> list[str]:
    """`argv` run in a network namespace of its own that holds only a loopback (up): what
    it connects to or creates there never reaches the host's network. Unix sockets still
    work across it. The command keeps the pid (unshare and sh exec it)."""
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]


def _clean_env() -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE too: an installed mooraged has its bytecode cached, and
    # compiling every module at each start would be counted as its start-up time. And
    # the grpcio settings this process's libcontainerd chose for itself (its __init__.py):
    # each daemon's tree chooses its own, as a real start would.
    unwanted = (
        "DOCKER_",
        "NOTIFY_SOCKET",
        "PYTHONDONTWRITEBYTECODE",
        "GRPC_EXPERIMENTS",
        "GRPC_ENABLE_FORK_SUPPORT",
    )
    return {k: v for k, v in os.environ.items() if not k.startswith(unwanted)}


def dockerd(
    workdir: Path, containerd: str, binary: str = "dockerd", *, bridge: bool = False
) -> Engine:
    """dockerd on `containerd`; with `bridge` its default networking (docker0, iptables,
    the userland proxy): only for a private network namespace (bench.netstart)."""
    root = workdir / "dockerd"
    root.mkdir(parents=True)
    config = root / "daemon.json"
    config.write_text("{}\n")
    socket = root / "docker.sock"
    argv = [
        binary,
        "--containerd", containerd,
        "--containerd-namespace", "bench-dockerd",
        "--containerd-plugins-namespace", "bench-dockerd-plugins",
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "-H", f"unix://{socket}",
        "--config-file", str(config),
        "--pidfile", str(root / "dockerd.pid"),
    ]  # fmt: skip
    if not bridge:
        # No networking of the host is touched: no bridge, iptables, NAT, proxy or sysctl.
        argv += ["--bridge", "none", "--iptables=false", "--ip6tables=false",
                 "--ip-masq=false", "--ip-forward=false", "--userland-proxy=false"]  # fmt: skip
    return Engine("dockerd", argv, socket, workdir / "dockerd.log")


def moorage(workdir: Path, containerd: str, tree: Path = REPO, *, bridge: bool = False) -> Engine:
    """mooraged from the source tree `tree` (another checkout runs with this venv); with
    `bridge` its networking on (bench.netstart only, in a private network namespace)."""
    root = workdir / "moorage"
    root.mkdir(parents=True)
    config = root / "empty.json"
    config.write_text("{}\n")
    socket = root / "moorage.sock"
    argv = [
        # Trees from before the entry point moved to its own package start as `daemon`.
        sys.executable, "-m", "mooraged" if (tree / "mooraged").is_dir() else "daemon",
        "--containerd", containerd,
        "--containerd-namespace", "bench-moorage",
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "-H", f"unix://{socket}",
        "--config-file", str(config),
    ]  # fmt: skip
    if not bridge:
        argv += ["--bridge", "none"]  # as dockerd above: the machine's namespace is not ours
    return Engine("moorage", argv, socket, workdir / "moorage.log", cwd=tree)


def named(
    name: str, workdir: Path, containerd: str, dockerd_binary: str, *, bridge: bool = False
) -> Engine:
    """dockerd (from `dockerd_binary`) when `name` is "dockerd", else this tree's mooraged."""
    if name == "dockerd":
        return dockerd(workdir, containerd, dockerd_binary, bridge=bridge)
    return moorage(workdir, containerd, bridge=bridge)


class HostFootprint:
    """Paths dockerd creates outside its own roots; removed afterwards if they were new."""

    FILES = (Path("/etc/docker/key.json"),)
    DIRS = (Path("/run/docker/plugins"), Path("/run/docker"), Path("/etc/docker"))
    # containerd's runc shim keeps a state directory per namespace under its default root.
    RUNC_NAMESPACES = tuple(
        Path("/run/containerd/runc") / ns
        for ns in ("bench-dockerd", "bench-dockerd-plugins", "bench-moorage")
    )

    def __init__(self) -> None:
        paths = (*self.FILES, *self.DIRS, *self.RUNC_NAMESPACES)
        self.existed = {path for path in paths if path.exists()}

    def restore(self) -> None:
        for path in self.FILES:
            if path not in self.existed:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        for path in (*self.DIRS, *self.RUNC_NAMESPACES):
            if path not in self.existed:
                with contextlib.suppress(OSError):
                    path.rmdir()  # only if empty: anything in it is not ours to judge


def rerun_in_private_netns(module: str, args: list[str]) -> int:
    """Run `python -m module *args --inside` in a named network namespace made for it (lo
    up), and delete the namespace after: a benchmark that makes bridges and rules makes them
    there, never in the machine's own namespace."""
    name = "moorage-bench-" + secrets.token_hex(4)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        argv = [sys.executable, "-m", module, *args, "--inside"]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{name}", "--", *argv], env=env
        ).returncode
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


async def timed_command(engine: Engine, *argv: str) -> float:
    """One client command (the docker CLI, docker-compose) in `engine`'s docker
    environment; its wall time (raises on failure)."""
    env = {**docker_env(engine.host), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {err.decode().strip()}")
    return elapsed


Results = dict[str, list[float]]


@dataclass
class Workspace:
    """A benchmark's directory, its private containerd (started) and busybox's
    `docker save` archive in the directory."""

    workdir: Path
    containerd: TestContainerd
    busybox: Path


@contextlib.asynccontextmanager
async def private_containerd(prefix: str) -> AsyncIterator[Workspace]:
    """A new directory named with `prefix` and a private containerd in it; at the end the
    containerd is closed, the directory swept and what dockerd left on the host removed
    (HostFootprint)."""
    footprint = HostFootprint()
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    containerd = TestContainerd(workdir / "containerd", namespace="bench-moorage")
    try:
        await containerd.start()
        busybox = workdir / "busybox.tar"
        write_docker_save(busybox)
        yield Workspace(workdir, containerd, busybox)
    finally:
        with contextlib.suppress(Exception):
            await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
        footprint.restore()


async def bridged_in_turn(
    prefix: str, binary: str, measure: Callable[[Engine, Path], Awaitable[Results]]
) -> dict[str, Results]:
    """In a private network namespace (rerun_in_private_netns): one private containerd,
    then dockerd and mooraged on it in turn, each with its bridge networking on, each
    measured by `measure(engine, busybox_tar)`."""
    results: dict[str, Results] = {}
    async with private_containerd(prefix) as space:
        for name in ("dockerd", "moorage"):
            engine = named(name, space.workdir, space.containerd.address, binary, bridge=True)
            await engine.start()
            try:
                results[name] = await measure(engine, space.busybox)
            finally:
                await engine.stop()
    return results


def bridged_main(
    module: str,
    doc: str,
    n_default: int,
    n_help: str,
    inside: Callable[[int, str, str], Coroutine[Any, Any, dict[str, Results]]],
    report: Callable[[dict[str, Results], int], str],
) -> int:
    """The command line of a bridged benchmark (`module`): `-n`, `--docker`, `--dockerd`;
    it re-runs itself in a private network namespace, where `inside(n, cli, dockerd)`
    measures and `report` prints."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=n_default, help=n_help)
    parser.add_argument("--docker", default="/usr/local/bin/docker", help="the docker CLI")
    parser.add_argument("--dockerd", default="dockerd", help="the dockerd 20.10 binary")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        results = asyncio.run(inside(args.n, args.docker, args.dockerd))
        print(report(results, args.n))
        return 0
    return rerun_in_private_netns(
        module, ["-n", str(args.n), "--docker", args.docker, "--dockerd", args.dockerd]
    )
