"""Lifecycle latency and daemon CPU of moorage's two libcontainerd backends beside dockerd.

`.venv/bin/python -m bench.backends [-n N] [--daemons dockerd,remote,local]`

- `dockerd`: dockerd 20.10 on a private containerd;
- `remote`: mooraged on that containerd (the default backend);
- `local`: mooraged `--containerd-backend local`: runc driven directly, no containerd.

Each daemon in turn (never two at once) loads the busybox image, warms up, then runs
`docker run --rm busybox true` N times and the Engine API cycle (create, start, wait,
delete) N times. Latency: median and p90 per operation. CPU: the daemon "with its
children" is everything in a cpuacct cgroup of the benchmark's own that the daemon
(and, for dockerd and remote, containerd) is moved into at its turn: shims, monitors
and runc started after that inherit it; the containers' own processes do not (runc
puts them in their cgroups). CPU per operation is the cgroup's cpuacct.usage over the
phase divided by N. Networking is off in every daemon (--bridge none).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.engines import Engine, HostFootprint, moorage, named
from tests.support.containerd import TestContainerd, sweep
from tests.support.images import write_docker_save

CPUACCT = Path("/sys/fs/cgroup/cpuacct")
IMAGE = "busybox"
DAEMONS = ("dockerd", "remote", "local")


@dataclass
class Phase:
    times: list[float] = field(default_factory=list)
    cpu_ns: int = 0


class CpuGroup:
    """A cpuacct cgroup (v1) whose usage counts the processes put in it and their children."""

    def __init__(self, name: str) -> None:
        self.path = CPUACCT / name
        self.path.mkdir()

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def usage(self) -> int:
        return int((self.path / "cpuacct.usage").read_text())

    def remove(self, keep: list[int]) -> None:
        # What still runs (containerd between turns) goes back to the root cgroup.
        for pid in keep:
            with contextlib.suppress(OSError):
                (CPUACCT / "cgroup.procs").write_text(str(pid))
        with contextlib.suppress(OSError):
            self.path.rmdir()


def local_engine(workdir: Path) -> Engine:
    """mooraged on the local backend: the moorage engine's flags without containerd's."""
    engine = moorage(workdir, "")
    argv = engine.argv
    index = argv.index("--containerd")
    del argv[index : index + 2]
    argv += ["--containerd-backend", "local"]
    engine.name = "local"
    return engine


async def docker(engine: Engine, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = engine.host
    proc = await asyncio.create_subprocess_exec(
        "docker",
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {err.decode().strip()}")


async def api_cycle(engine: Engine) -> None:
    created = await engine.request("POST", "/containers/create", {"Image": IMAGE, "Cmd": ["true"]})
    cid = created["Id"]
    await engine.request("POST", f"/containers/{cid}/start")
    await engine.request("POST", f"/containers/{cid}/wait")
    await engine.request("DELETE", f"/containers/{cid}")


async def measure(n: int, group: CpuGroup, step: Callable[[], Awaitable[None]]) -> Phase:
    phase = Phase()
    before = group.usage()
    for _ in range(n):
        start = time.perf_counter()
        await step()
        phase.times.append(time.perf_counter() - start)
    phase.cpu_ns = group.usage() - before
    return phase


async def bench_engine(
    engine: Engine, group: CpuGroup, image_tar: Path, n: int
) -> dict[str, Phase]:
    await engine.start()
    assert engine.proc is not None
    group.add(engine.proc.pid)
    try:
        await docker(engine, "load", "-i", str(image_tar))
        for _ in range(2):  # warm-up, not counted
            await docker(engine, "run", "--rm", IMAGE, "true")
            await api_cycle(engine)
        idle = Phase()
        before = group.usage()
        await asyncio.sleep(2.0)  # a window of nothing to do: what the daemon costs idle
        idle.cpu_ns = group.usage() - before
        return {
            "run --rm": await measure(
                n, group, lambda: docker(engine, "run", "--rm", IMAGE, "true")
            ),
            "API cycle": await measure(n, group, lambda: api_cycle(engine)),
            "idle 2 s": idle,
        }
    finally:
        await engine.stop()


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "—"
    ordered = sorted(values)
    if q == 0.5:
        return f"{statistics.median(ordered) * 1000:.0f}"
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.0f}"


def report(results: dict[str, dict[str, Phase]], n: int) -> str:
    names = list(results)
    out = [
        "# moorage backends: lifecycle latency and daemon CPU",
        "",
        f"n = {n} per operation; {os.cpu_count()} cores, shared machine. Times in ms, median"
        " / p90 (docker CLI start-up included in `run --rm`). CPU: ms of CPU per operation"
        " of the daemon with its children (containerd and shims for dockerd and remote;"
        " monitors and runc for local), not of the containers.",
        "",
        "| operation | " + " | ".join(f"{d} ms | {d} CPU ms" for d in names) + " |",
        "|---|" + "---:|---:|" * len(names),
    ]
    for case in ("run --rm", "API cycle"):
        cells = []
        for name in names:
            phase = results[name].get(case, Phase())
            cells.append(f"{_ms(phase.times, 0.5)} / {_ms(phase.times, 0.9)}")
            cells.append(f"{phase.cpu_ns / n / 1e6:.1f}" if phase.times else "—")
        out.append(f"| {case} | " + " | ".join(cells) + " |")
    idle = [f"{name} {results[name]['idle 2 s'].cpu_ns / 1e6:.0f} ms" for name in names]
    out += ["", f"CPU over 2 idle seconds: {', '.join(idle)}."]
    return "\n".join(out) + "\n"


async def main_async(args: argparse.Namespace) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="moorage-bench-backends-"))
    image_tar = workdir / "busybox.tar"
    write_docker_save(image_tar)
    containerd = TestContainerd(workdir / "containerd", namespace="bench-moorage")
    results: dict[str, dict[str, Phase]] = {}
    footprint = HostFootprint()
    try:
        if set(args.daemons) & {"dockerd", "remote"}:
            await containerd.start()
        for name in args.daemons:
            group = CpuGroup(f"moorage-bench-{name}-{secrets.token_hex(3)}")
            containerd_pid = containerd.supervisor.pid
            try:
                if name == "local":
                    engine = local_engine(workdir / "local")
                else:
                    assert containerd_pid is not None
                    group.add(containerd_pid)
                    engine = named(name, workdir, containerd.address, args.dockerd)
                results[name] = await bench_engine(engine, group, image_tar, args.n)
            finally:
                group.remove([containerd_pid] if containerd_pid else [])
    finally:
        with contextlib.suppress(Exception):
            await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
        footprint.restore()
    return report(results, args.n)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.backends")
    p.add_argument("-n", type=int, default=20)
    p.add_argument("--daemons", default=",".join(DAEMONS))
    p.add_argument("--dockerd", default="dockerd")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    args.daemons = [d.strip() for d in args.daemons.split(",") if d.strip()]
    if set(args.daemons) - set(DAEMONS) or args.n < 1:
        p.error("bad arguments")
    text = asyncio.run(main_async(args))
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
