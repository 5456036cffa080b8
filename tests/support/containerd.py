"""A private, real containerd for the test session, and the tools to inspect and sweep it.

Everything it creates lives under one fresh directory in /tmp (root, state, socket,
log, archives); teardown kills whatever still refers to that directory, unmounts
what is mounted below it and removes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from libcontainerd.supervisor import ManagedContainerd
from tests.support.images import ImageInfo

NAMESPACE = "moorage-test"
BUSYBOX_REF = "docker.io/library/busybox:latest"
CTR = "ctr"
CTR_TIMEOUT = 60.0
# runc's state for containers of the runc v2 shim, unless a client sets another Root.
RUNC_ROOT = Path("/run/containerd/runc")


class CtrError(RuntimeError):
    pass


@dataclass(frozen=True)
class CtrResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ImportedImage:
    """An image written by tests.support.images and imported into the test containerd."""

    info: ImageInfo
    ref: str
    archive: Path

    @property
    def id(self) -> str:
        return self.info.id


@dataclass(frozen=True)
class TaskRow:
    id: str
    pid: int
    status: str


@dataclass(frozen=True)
class SnapshotRow:
    key: str
    parent: str
    kind: str  # "Active", "Committed" or "View", as ctr prints it


# --- Prometheus text format ---------------------------------------------------------

_SAMPLE = re.compile(r"(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'\s*(?P<key>[A-Za-z_][A-Za-z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"\s*,?')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_prometheus(text: str) -> list[Sample]:
    samples: list[Sample] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)  # a trailing timestamp, if any, is ignored
        if not match:
            raise ValueError(f"bad sample line: {line!r}")
        labels: dict[str, str] = {}
        text_labels, position = match.group("labels") or "", 0
        while position < len(text_labels):
            label = _LABEL.match(text_labels, position)
            if not label:
                raise ValueError(f"bad label set in: {line!r}")
            value = re.sub(r'\\[\\"n]', lambda m: _ESCAPES[m.group(0)], label.group("value"))
            labels[label.group("key")] = value
            position = label.end()
        # float() reads Go's "+Inf", "-Inf" and "NaN" as well.
        samples.append(Sample(match.group("name"), labels, float(match.group("value"))))
    return samples


def rpc_name(service: str, method: str) -> str:
    """("containerd.services.tasks.v1.Tasks", "Create") -> "Tasks.Create"."""
    return f"{service.rsplit('.', 1)[-1]}.{method}"


def grpc_handled_counts(text: str) -> dict[str, float]:
    """Completed RPCs per "Service.Method", summed over status codes."""
    counts: dict[str, float] = {}
    for sample in parse_prometheus(text):
        if sample.name == "grpc_server_handled_total" and sample.value:
            key = rpc_name(sample.labels["grpc_service"], sample.labels["grpc_method"])
            counts[key] = counts.get(key, 0.0) + sample.value
    return counts


_Count = TypeVar("_Count", int, float)


def count_delta(before: Mapping[str, _Count], after: Mapping[str, _Count]) -> dict[str, _Count]:
    """What changed between two readings of counters (RPCs by method, say): the nonzero
    differences, by key."""
    delta = {key: after[key] - before.get(key, 0) for key in after}
    return {key: value for key, value in sorted(delta.items()) if value}


# --- sweeping what a containerd left behind -----------------------------------------


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _proc_link(pid: str, name: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/{name}").removesuffix(" (deleted)")
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: [state, ppid, ...]; [] if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()
    except OSError:
        return []


def _runc_inits(directory: str) -> list[int]:
    """Init pids of runc containers whose bundle is in `directory`, still alive."""
    pids: list[int] = []
    for path in RUNC_ROOT.glob("*/*/state.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            text = path.read_text(errors="replace")
            if directory not in text:
                continue
            state = json.loads(text)
            pid, started = int(state["init_process_pid"]), str(state["init_process_start"])
            # Field 22 of stat (index 19 here) guards against a recycled pid.
            fields = _stat_fields(pid)
            if len(fields) > 19 and fields[19] == started:
                pids.append(pid)
    return pids


def processes_using(directory: str) -> list[int]:
    """Processes that belong to a containerd living in `directory`, and their descendants.

    Shims are found by argv (the socket path) or cwd (the bundle); container
    processes, which see only their own root, as the shims' descendants or through
    runc's state, so an orphaned container is found too. Nothing of other sessions.
    """
    parents: dict[int, int] = {}
    roots: set[int] = set(_runc_inits(directory))
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        fields = _stat_fields(pid)
        if not fields or fields[0] == "Z":
            continue
        parents[pid] = int(fields[1])
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(directory in arg for arg in argv) or _under(_proc_link(entry, "cwd"), directory):
            roots.add(pid)
    found = set(roots)
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in found} - found
        found |= children
        grew = bool(children)
    found.discard(os.getpid())
    return sorted(found)


def kill_processes_using(directory: str, timeout: float = 10.0) -> list[int]:
    killed = processes_using(directory)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while processes_using(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    return killed


def _unescape_mountinfo(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(directory: str) -> list[str]:
    """Mount points at or below `directory`, deepest first."""
    points: list[str] = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = _unescape_mountinfo(line.split()[4])
            if _under(point, directory):
                points.append(point)
    return sorted(set(points), key=lambda p: (p.count("/"), p), reverse=True)


def unmount_all_under(directory: str) -> None:
    for point in mounts_under(directory):
        if subprocess.run(["umount", point], capture_output=True, check=False).returncode:
            # Busy: detach it so the directory can still be removed.
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _remove_cgroup(path: str, timeout: float = 2.0) -> None:
    # A just-killed task can keep its cgroup busy for a moment.
    deadline = time.monotonic() + timeout
    while os.path.isdir(path):
        try:
            os.rmdir(path)
        except OSError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.05)


def remove_runc_state_for(directory: str) -> None:
    """What runc keeps outside our tree for containers whose bundle was in `directory`.

    Only reached when a container outlived its shim (runc delete never ran): its
    state dir under RUNC_ROOT and its cgroups.
    """
    for path in RUNC_ROOT.glob("*/*/state.json"):
        with contextlib.suppress(OSError, ValueError):
            text = path.read_text(errors="replace")
            if directory not in text:
                continue
            cgroups = json.loads(text).get("cgroup_paths") or {}
            for cgroup in set(cgroups.values()):
                _remove_cgroup(str(cgroup))
            shutil.rmtree(path.parent, ignore_errors=True)


def sweep(directory: str) -> None:
    kill_processes_using(directory)
    remove_runc_state_for(directory)
    unmount_all_under(directory)
    shutil.rmtree(directory, ignore_errors=True)


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def run_ctr(address: str, namespace: str, *args: str, check: bool = True) -> CtrResult:
    """`ctr -a <address> -n <namespace> *args`; raises CtrError on failure if `check`."""
    argv = [CTR, "-a", address, "-n", namespace, *args]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(CTR_TIMEOUT):
            out, err = await proc.communicate()
    except BaseException as exc:
        # Timed out or cancelled: a stray ctr would keep containerd busy.
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if isinstance(exc, TimeoutError):
            raise CtrError(f"{' '.join(argv)}: timed out after {CTR_TIMEOUT:g}s") from None
        raise
    result = CtrResult(proc.returncode or 0, out.decode(), err.decode())
    if check and result.returncode:
        raise CtrError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
    return result


async def list_tasks(address: str, namespace: str) -> list[TaskRow]:
    out = (await run_ctr(address, namespace, "tasks", "ls")).stdout
    rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
    return [TaskRow(row[0], int(row[1]), row[2]) for row in rows]


async def snapshot_rows(address: str, namespace: str) -> list[SnapshotRow]:
    out = (await run_ctr(address, namespace, "snapshots", "ls")).stdout
    rows = [line.split() for line in out.splitlines()[1:] if line.strip()]
    # A snapshot without parent prints two columns: KEY and KIND.
    return [SnapshotRow(r[0], r[1] if len(r) > 2 else "", r[-1]) for r in rows]


async def list_containers(address: str, namespace: str) -> list[str]:
    return (await run_ctr(address, namespace, "containers", "ls", "-q")).stdout.split()


# --- the fixture object -------------------------------------------------------------


class TestContainerd:
    """A private containerd in a fresh directory under /tmp."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, workdir: Path, namespace: str = NAMESPACE) -> None:
        self.workdir = workdir
        self.namespace = namespace
        self.metrics_port = free_tcp_port()
        self.supervisor = ManagedContainerd(
            root=workdir / "root",
            state=workdir / "state",
            address=workdir / "containerd.sock",
            log_path=workdir / "containerd.log",
            config_path=workdir / "containerd.toml",
            metrics_address=f"127.0.0.1:{self.metrics_port}",
        )

    @classmethod
    def create(cls) -> TestContainerd:
        return cls(Path(tempfile.mkdtemp(prefix="moorage-test-")))

    @property
    def address(self) -> str:
        return self.supervisor.address

    @property
    def root(self) -> Path:
        return self.supervisor.root

    @property
    def state(self) -> Path:
        return self.supervisor.state

    @property
    def log_path(self) -> Path:
        return self.supervisor.log_path

    @property
    def fifo_dir(self) -> str:
        """Pass as `ctr run --fifo-dir` so a crashed test's FIFOs are swept with the rest
        (ctr's default, /run/containerd/fifo, is shared and outside our tree)."""
        return str(self.workdir / "fifo")

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/v1/metrics"

    async def start(self) -> None:
        await self.supervisor.start()

    async def restart(self) -> None:
        """Stop and start the same containerd on the same dirs; shims keep running."""
        await self.supervisor.stop()
        await self.supervisor.start()

    async def ctr(self, *args: str, namespace: str | None = None, check: bool = True) -> CtrResult:
        """`ctr -a <socket> -n <namespace> *args`; raises CtrError on failure if `check`."""
        return await run_ctr(self.address, namespace or self.namespace, *args, check=check)

    async def import_image(self, tar_path: str | os.PathLike[str], *args: str) -> str:
        """`ctr images import` (unpacked into the default overlayfs snapshotter)."""
        return (await self.ctr("images", "import", *args, os.fspath(tar_path))).stdout

    async def metrics_text(self) -> str:
        def fetch() -> str:
            with urllib.request.urlopen(self.metrics_url, timeout=10) as response:
                body: bytes = response.read()
                return body.decode()

        return await asyncio.to_thread(fetch)

    async def grpc_counts(self) -> dict[str, float]:
        """Completed RPCs per "Service.Method" (e.g. "Tasks.Create") since start."""
        return grpc_handled_counts(await self.metrics_text())

    async def grpc_handled(self, method: str) -> float:
        """Completed calls of one RPC, all status codes summed.

        `method` is "Tasks.Create", "containerd.services.tasks.v1.Tasks/Create"
        (leading slash optional) or a bare method name, summed over services.
        """
        total = 0.0
        for sample in parse_prometheus(await self.metrics_text()):
            if sample.name != "grpc_server_handled_total":
                continue
            service, name = sample.labels["grpc_service"], sample.labels["grpc_method"]
            if method.lstrip("/") in (f"{service}/{name}", rpc_name(service, name), name):
                total += sample.value
        return total

    async def list_containers(self, namespace: str | None = None) -> list[str]:
        out = (await self.ctr("containers", "ls", "-q", namespace=namespace)).stdout
        return out.split()

    async def list_snapshots(self, namespace: str | None = None) -> list[str]:
        out = (await self.ctr("snapshots", "ls", namespace=namespace)).stdout
        return [line.split()[0] for line in out.splitlines()[1:] if line.strip()]

    async def list_tasks(self, namespace: str | None = None) -> list[TaskRow]:
        return await list_tasks(self.address, namespace or self.namespace)

    async def snapshot_rows(self, namespace: str | None = None) -> list[SnapshotRow]:
        return await snapshot_rows(self.address, namespace or self.namespace)

    async def kill_all_tasks(self) -> None:
        """SIGKILL and delete every task in every namespace (best effort)."""
        listed = await self.ctr("namespaces", "ls", "-q", check=False)
        for namespace in listed.stdout.split():
            tasks = await self.ctr("tasks", "ls", "-q", namespace=namespace, check=False)
            for task_id in tasks.stdout.split():
                await self.ctr("tasks", "kill", "-a", "-s", "SIGKILL", task_id,
                               namespace=namespace, check=False)  # fmt: skip
                await self.ctr("tasks", "delete", "-f", task_id, namespace=namespace, check=False)

    async def close(self) -> None:
        """Leave nothing behind: no tasks, shims, container processes, mounts or files."""
        try:
            if self.supervisor.running:
                with contextlib.suppress(Exception):
                    await self.kill_all_tasks()
        finally:
            await self.supervisor.stop()
            await asyncio.to_thread(sweep, str(self.workdir))
