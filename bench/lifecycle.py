"""CPU per container lifecycle: moorage, dockerd 20.10 and the floor, in one interleaved run.

    .venv/bin/python -m bench.lifecycle [-n 40] [--rounds 3] [--concurrency 1,8]
                                        [--scale 200] [--images 20] [--out FILE]

One private containerd runs dockerd, mooraged and the floor (bench/floor.py: the
same lifecycle straight on libcontainerd) side by side, each in its own namespace.
The lifecycle is create, start, exec `true` (create, start attached, inspect),
one-shot stats, kill, wait and delete. For every concurrency K and round, each
contender in turn (the order rotates every round) runs `-n` lifecycles, K at a
time; the CPU its process spent meanwhile is read from /proc before and after
(alone, and with the children it waited for), and so is containerd's. dockerd runs
with `--bridge none --iptables=false --ip-masq=false` (nothing of the host's
networking is touched); mooraged with `--bridge none`.

`--scale N` adds the scale mode for moorage and dockerd (each restarted with
`--live-restore` first, so containers run on across the restart): N running containers
and `--images` images in the store; list, inspect and one-shot stats latency (p50,
p99), daemon RSS per container, the daemon's start-up until `/_ping` answers, and until
all N are listed running again.

The targets of issue 13 are printed as met or not. `--smoke` runs a tiny version.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procstat
from bench.api_latency import load_image
from bench.compare import command_output, percentile
from bench.engines import (
    REPO,
    Engine,
    checkout_trees,
    dockerd,
    moorage,
    private_containerd,
    run_report,
)
from bench.floor import Floor
from tests.support.images import build_busybox_layer, build_image, file_layer, write_docker_save

STEPS = ("create", "start", "exec", "stats", "kill+wait", "delete")
CMD = ["sleep", "3600"]
WARMUP = 3
STATS_EVERY = 10  # one-shot stats in the scale mode: one per this many list/inspect


# --- the contenders ----------------------------------------------------------------------


@dataclass
class Contender:
    name: str
    pid: Callable[[], int]
    lifecycle: Callable[[list[float]], Awaitable[None]]


async def http_lifecycle(
    engine: Engine, marks: list[float], host_config: dict[str, Any] | None = None
) -> None:
    """The lifecycle over the Engine API, as a client on one keep-alive session does it."""
    marks.append(time.perf_counter())
    body = {"Image": "busybox", "Cmd": CMD, "HostConfig": host_config or {}}
    cid = (await engine.request("POST", "/containers/create", body))["Id"]
    marks.append(time.perf_counter())
    await engine.request("POST", f"/containers/{cid}/start")
    marks.append(time.perf_counter())
    exec_body = {"Cmd": ["true"], "AttachStdout": True, "AttachStderr": True}
    eid = (await engine.request("POST", f"/containers/{cid}/exec", exec_body))["Id"]
    await engine.request("POST", f"/exec/{eid}/start", {"Detach": False, "Tty": False})
    inspected = await engine.request("GET", f"/exec/{eid}/json")
    if inspected["ExitCode"] != 0:
        raise RuntimeError(f"{engine.name}: exec exit {inspected['ExitCode']}")
    marks.append(time.perf_counter())
    await engine.request("GET", f"/containers/{cid}/stats", stream="false", **{"one-shot": "true"})
    marks.append(time.perf_counter())
    await engine.request("POST", f"/containers/{cid}/kill")
    await engine.request("POST", f"/containers/{cid}/wait")
    marks.append(time.perf_counter())
    await engine.request("DELETE", f"/containers/{cid}")
    marks.append(time.perf_counter())


def engine_contender(engine: Engine) -> Contender:
    def pid() -> int:
        assert engine.proc is not None
        return engine.proc.pid

    return Contender(engine.name, pid, lambda marks: http_lifecycle(engine, marks))


def floor_contender(floor: Floor) -> Contender:
    return Contender("floor", os.getpid, lambda marks: floor.lifecycle(CMD, marks))


# --- batches -----------------------------------------------------------------------------


@dataclass
class Tally:
    """One contender at one concurrency, summed over the rounds."""

    lifecycles: int = 0
    wall: float = 0.0
    cpu: procstat.Cpu = procstat.ZERO
    containerd_cpu: float = 0.0
    steps: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    total: list[float] = field(default_factory=list)
    failures: int = 0
    first_error: str = ""

    def per_lifecycle(self, seconds: float) -> float | None:
        return seconds / self.lifecycles if self.lifecycles else None

    def rate(self) -> float | None:
        return self.lifecycles / self.wall if self.wall else None


async def batch(
    contender: Contender, count: int, k: int, tally: Tally, containerd_pid: int
) -> None:
    """`count` lifecycles, `k` at a time, into `tally`."""
    remaining = iter(range(count))
    done = 0

    async def worker() -> None:
        nonlocal done
        for _ in remaining:
            marks: list[float] = []
            try:
                await contender.lifecycle(marks)
            except Exception as exc:
                tally.failures += 1
                tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
                continue
            done += 1
            for index, step in enumerate(STEPS):
                tally.steps[step].append(marks[index + 1] - marks[index])
            tally.total.append(marks[-1] - marks[0])

    pid = contender.pid()
    cpu_before, cd_before = procstat.cpu(pid), procstat.cpu(containerd_pid)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(k)))
    tally.wall += time.perf_counter() - started
    tally.cpu += procstat.cpu(pid) - cpu_before
    tally.containerd_cpu += (procstat.cpu(containerd_pid) - cd_before).own
    tally.lifecycles += done


# --- scale mode --------------------------------------------------------------------------


@dataclass
class ScaleResult:
    list_times: list[float] = field(default_factory=list)
    inspect_times: list[float] = field(default_factory=list)
    # The same requests less the time the daemon's and this client's threads waited for a
    # CPU meanwhile; and the daemon's CPU time for each.
    list_own: list[float] = field(default_factory=list)
    inspect_own: list[float] = field(default_factory=list)
    list_cpu: list[float] = field(default_factory=list)
    inspect_cpu: list[float] = field(default_factory=list)
    stats_times: list[float] = field(default_factory=list)
    rss_empty: int = 0
    rss_full: int = 0
    rss_restored: int = 0  # after the restart, with the containers and images restored
    startup: float = 0.0
    restored: float = 0.0
    containers: int = 0
    load: float = 0.0  # the machine's 1-minute load average when the requests began


async def timed(request: Awaitable[object]) -> float:
    started = time.perf_counter()
    await request
    return time.perf_counter() - started


async def extra_images(engine: Engine, workdir: Path, count: int) -> None:
    """`count` images of their own (busybox plus one small layer each), loaded."""
    busybox = build_busybox_layer()
    for index in range(count):
        archive = workdir / f"{engine.name}-image-{index}.tar"
        image = build_image([busybox, file_layer({f"etc/bench-{index}": f"{index}\n".encode()})])
        write_docker_save(archive, [f"bench-image-{index}:latest"], image)
        await load_image(engine, archive)


async def scale(engine: Engine, args: argparse.Namespace, workdir: Path) -> ScaleResult:
    result = ScaleResult()
    pid = engine.proc.pid if engine.proc else 0
    # "Empty" is the daemon after its first use of these paths and its own deferred
    # start-up work (mooraged builds its API models after it answers): memory that does
    # not grow with the containers is not theirs.
    await http_lifecycle(engine, [])
    await procstat.settled(pid)
    result.rss_empty = procstat.rss_bytes(pid)
    ids: list[str] = []
    sem = asyncio.Semaphore(4)

    async def run_one() -> None:
        async with sem:
            body = {"Image": "busybox", "Cmd": CMD}
            cid = (await engine.request("POST", "/containers/create", body))["Id"]
            await engine.request("POST", f"/containers/{cid}/start")
            ids.append(cid)

    await asyncio.gather(*(run_one() for _ in range(args.scale)))
    result.containers = len(ids)
    result.rss_full = procstat.rss_bytes(pid)  # before the images: per container is this
    await extra_images(engine, workdir, args.images)
    for _ in range(WARMUP):
        await engine.request("GET", "/containers/json")

    async def observed(path: str, times: list[float], own: list[float], cpu: list[float]) -> None:
        daemon, client = procstat.sched(pid), procstat.sched(os.getpid())
        times.append(await timed(engine.request("GET", path)))
        daemon, client = procstat.sched(pid) - daemon, procstat.sched(os.getpid()) - client
        own.append(max(0.0, times[-1] - (daemon.wait_ns + client.wait_ns) / 1e9))
        cpu.append(daemon.run_ns / 1e9)

    # This client's own full collections (20-60 ms with 200 decoded lists about) are not
    # the daemon's latency; its garbage here is acyclic, freed as it goes.
    gc.collect()
    gc.disable()
    result.load = os.getloadavg()[0]
    try:
        for index in range(args.scale_requests):
            await observed("/containers/json", result.list_times, result.list_own, result.list_cpu)
            cid = ids[index % len(ids)]
            await observed(
                f"/containers/{cid}/json",
                result.inspect_times,
                result.inspect_own,
                result.inspect_cpu,
            )
            if index % STATS_EVERY == 0:  # dockerd takes a second for each
                result.stats_times.append(
                    await timed(
                        engine.request(
                            "GET",
                            f"/containers/{cid}/stats",
                            stream="false",
                            **{"one-shot": "true"},
                        )
                    )
                )
    finally:
        gc.enable()
    # A restart: containers run on (live restore); start-up is until /_ping answers, restore
    # until every container is listed running again.
    await engine.stop()
    started = time.perf_counter()
    await engine.start()
    result.startup = time.perf_counter() - started
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = await engine.request("GET", "/containers/json")
        if len(running) >= len(ids):
            break
        await asyncio.sleep(0.01)
    result.restored = time.perf_counter() - started
    assert engine.proc is not None
    result.rss_restored = procstat.rss_bytes(engine.proc.pid)
    sem = asyncio.Semaphore(4)

    async def remove(cid: str) -> None:
        async with sem:
            await engine.request("DELETE", f"/containers/{cid}", force="1")

    await asyncio.gather(*(remove(cid) for cid in ids), return_exceptions=True)
    return result


# --- report ------------------------------------------------------------------------------


def ms(values: list[float], fraction: float = 0.5) -> str:
    if not values:
        return "—"
    value = statistics.median(values) if fraction == 0.5 else percentile(values, fraction)
    return f"{value * 1000:.1f}"


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "NOT met")


def at_most(a: float | None, b: float | None, factor: float) -> bool | None:
    return None if a is None or b is None else a <= factor * b


def lifecycle_report(
    tallies: dict[int, dict[str, Tally]], names: list[str]
) -> tuple[list[str], list[str]]:
    out: list[str] = []
    targets: list[str] = []
    for k, by_name in tallies.items():
        out += [
            f"### K={k} (lifecycles {k} at a time)",
            "",
            "| per lifecycle | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        rows: list[tuple[str, Callable[[Tally], str]]] = [
            ("lifecycles (failed)", lambda t: f"{t.lifecycles} ({t.failures})"),
            ("process CPU s", lambda t: fmt(t.per_lifecycle(t.cpu.own), 4)),
            (
                "of which user / system s",
                lambda t: (
                    f"{fmt(t.per_lifecycle(t.cpu.user), 4)}"
                    f" / {fmt(t.per_lifecycle(t.cpu.system), 4)}"
                ),
            ),
            ("with children CPU s", lambda t: fmt(t.per_lifecycle(t.cpu.with_children), 4)),
            ("containerd CPU s", lambda t: fmt(t.per_lifecycle(t.containerd_cpu), 4)),
            ("lifecycles/s", lambda t: fmt(t.rate(), 1)),
            ("whole lifecycle p50 ms", lambda t: ms(t.total)),
            *((f"{s} p50 ms", (lambda t, s=s: ms(t.steps[s]))) for s in STEPS),
        ]
        for label, cell in rows:
            out.append(f"| {label} | " + " | ".join(cell(by_name[n]) for n in names) + " |")
        out.append("")
        m, d, f = (by_name.get(n) for n in ("moorage", "dockerd", "floor"))
        if m and d:
            ok = at_most(m.per_lifecycle(m.cpu.own), d.per_lifecycle(d.cpu.own), 0.5)
            targets.append(f"- K={k}: moorage CPU ≤ 0.5x dockerd's: {verdict(ok)}")
        if m and f and k == 1:
            for step, factor in (("create", 1.3), ("delete", 1.3), ("exec", 1.15)):
                a = statistics.median(m.steps[step]) if m.steps[step] else None
                b = statistics.median(f.steps[step]) if f.steps[step] else None
                targets.append(
                    f"- K=1: {step} p50 ≤ {factor}x the floor's: {verdict(at_most(a, b, factor))}"
                )
        if m and k > 1:
            mr = m.rate()
            if d:
                ok = None if mr is None or d.rate() is None else mr >= 2.5 * (d.rate() or 0)
                targets.append(f"- K={k}: lifecycles/s ≥ 2.5x dockerd's: {verdict(ok)}")
            if f:
                ok = None if mr is None or f.rate() is None else mr >= 0.9 * (f.rate() or 0)
                targets.append(f"- K={k}: lifecycles/s ≥ 0.9x the floor's: {verdict(ok)}")
        for name in names:
            t = by_name[name]
            if t.failures:
                out.append(f"- {name} K={k}: {t.failures} failed, first: {t.first_error}")
    return out, targets


def scale_report(
    results: dict[str, ScaleResult], args: argparse.Namespace
) -> tuple[list[str], list[str]]:
    names = list(results)
    out = [
        f"### Scale: {args.scale} running containers, {args.images} extra images",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]

    def per_container(r: ScaleResult) -> str:
        return f"{(r.rss_full - r.rss_empty) / max(r.containers, 1) / 1024:.1f}"

    rows: list[tuple[str, Callable[[ScaleResult], str]]] = [
        ("list p50 / p99 ms", lambda r: f"{ms(r.list_times)} / {ms(r.list_times, 0.99)}"),
        ("inspect p50 / p99 ms", lambda r: f"{ms(r.inspect_times)} / {ms(r.inspect_times, 0.99)}"),
        (
            "list / inspect p99 ms less the daemon's and client's waits for a CPU",
            lambda r: f"{ms(r.list_own, 0.99)} / {ms(r.inspect_own, 0.99)}",
        ),
        (
            "daemon CPU ms per list / inspect, p50 (p99)",
            lambda r: (
                f"{ms(r.list_cpu)} ({ms(r.list_cpu, 0.99)})"
                f" / {ms(r.inspect_cpu)} ({ms(r.inspect_cpu, 0.99)})"
            ),
        ),
        ("stats p50 / p99 ms", lambda r: f"{ms(r.stats_times)} / {ms(r.stats_times, 0.99)}"),
        (
            "RSS empty / with the containers / after the restart MB",
            lambda r: (
                f"{r.rss_empty / 2**20:.0f} / {r.rss_full / 2**20:.0f}"
                f" / {r.rss_restored / 2**20:.0f}"
            ),
        ),
        ("RSS per container kB", per_container),
        ("load average at the requests", lambda r: f"{r.load:.1f}"),
        ("start-up to /_ping s", lambda r: f"{r.startup:.2f}"),
        ("restart until all listed s", lambda r: f"{r.restored:.2f}"),
    ]
    for label, cell in rows:
        out.append(f"| {label} | " + " | ".join(cell(results[n]) for n in names) + " |")
    targets = []
    m, d = results.get("moorage"), results.get("dockerd")
    if m:
        p99 = max(percentile(m.list_times, 0.99), percentile(m.inspect_times, 0.99))
        targets.append(f"- scale: list and inspect p99 < 5 ms: {verdict(p99 < 0.005)}")
        own = max(percentile(m.list_own, 0.99), percentile(m.inspect_own, 0.99))
        targets.append(
            "- scale: the same, less the daemon's and the client's waits for a CPU"
            f" (the machine's load): {verdict(own < 0.005)}"
        )
        per = (m.rss_full - m.rss_empty) / max(m.containers, 1)
        targets.append(f"- scale: RSS < 30 kB per container: {verdict(per < 30 * 1024)}")
        targets.append(f"- scale: restore after restart < 1 s: {verdict(m.restored < 1.0)}")
        if d:
            targets.append(
                f"- scale: start-up no slower than dockerd's: {verdict(m.startup <= d.startup)}"
            )
    return out, targets


def header(args: argparse.Namespace) -> list[str]:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    git = command_output("git", "-C", str(REPO), "describe", "--always", "--dirty")
    return [
        "# CPU per container lifecycle: moorage, dockerd 20.10, the floor",
        "",
        f"Run {now} by `bench/lifecycle.sh {' '.join(args.argv)}` (bench/README.md says how"
        " to read it).",
        "",
        f"- machine: {os.cpu_count()} cores, {platform.release()}, load average at start"
        f" {args.load_at_start}",
        f"- moorage git {git}, Python {platform.python_version()};"
        f" dockerd: {command_output(args.dockerd, '--version')};"
        f" containerd: {command_output('containerd', '--version')}",
        f"- {args.n} lifecycles per contender per round, {args.rounds} rounds, order rotating",
        "",
    ]


# --- main --------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> str:
    engines: list[Engine] = []
    floor: Floor | None = None
    async with private_containerd("moorage-lifecycle-") as space:
        workdir, containerd, archive = space.workdir, space.containerd, space.busybox
        try:
            containerd_pid = containerd.supervisor.pid
            assert containerd_pid is not None
            contenders: list[Contender] = []
            for name in args.contenders:
                if name == "floor":
                    floor = Floor(containerd, workdir / "floor")
                    await floor.start()
                    contenders.append(floor_contender(floor))
                    continue
                if name == "dockerd":
                    engine = dockerd(workdir, containerd.address, args.dockerd)
                else:
                    engine = moorage(workdir / name, containerd.address, args.trees.get(name, REPO))
                    engine.name = name  # another tree's mooraged: its own namespace too
                    engine.argv[engine.argv.index("bench-moorage")] = f"bench-{name}"
                engines.append(engine)
                await engine.start()
                await load_image(engine, archive)
                contenders.append(engine_contender(engine))
            for contender in contenders:  # first use of every code path, not counted
                await batch(contender, WARMUP, 1, Tally(), containerd_pid)
            tallies: dict[int, dict[str, Tally]] = {}
            for k in args.concurrency:
                tallies[k] = {c.name: Tally() for c in contenders}
                for round_ in range(args.rounds):
                    shift = round_ % len(contenders)
                    for contender in contenders[shift:] + contenders[:shift]:
                        print(f"K={k} round {round_ + 1}: {contender.name}", file=sys.stderr)
                        await batch(
                            contender, args.n, k, tallies[k][contender.name], containerd_pid
                        )
            names = [c.name for c in contenders]
            body, targets = lifecycle_report(tallies, names)
            rss = [
                "- RSS after the lifecycles: "
                + ", ".join(
                    f"{c.name} {procstat.rss_bytes(c.pid()) / 2**20:.0f} MB" for c in contenders
                )
            ]
            scale_out: list[str] = []
            if args.scale:
                results: dict[str, ScaleResult] = {}
                for engine in engines:
                    print(f"scale: {engine.name}", file=sys.stderr)
                    # Both stop their containers at a restart unless told otherwise.
                    engine.argv.append("--live-restore")
                    await engine.stop()
                    await engine.start()
                    results[engine.name] = await scale(engine, args, workdir)
                scale_out, scale_targets = scale_report(results, args)
                targets += scale_targets
            return "\n".join(
                [
                    *header(args),
                    *body,
                    *rss,
                    "",
                    *scale_out,
                    "",
                    "## Targets (issue 13)",
                    "",
                    *targets,
                ]
            )
        finally:
            for engine in engines:
                with contextlib.suppress(Exception):
                    await engine.stop()
            if floor is not None:
                with contextlib.suppress(Exception):
                    await floor.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.lifecycle", description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=40, help="lifecycles per contender per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", default="1,8", help="values of K (default 1,8)")
    p.add_argument("--contenders", default="moorage,dockerd,floor")
    p.add_argument(
        "--tree",
        action="append",
        default=[],
        help="NAME=PATH: one more contender, mooraged from that checkout (before/after)",
    )
    p.add_argument("--scale", type=int, default=0, help="running containers in the scale mode")
    p.add_argument("--images", type=int, default=20, help="extra images in the scale mode")
    p.add_argument("--scale-requests", type=int, default=200)
    p.add_argument("--dockerd", default="dockerd")
    p.add_argument("--out", default="", help="also write the report here")
    p.add_argument("--smoke", action="store_true", help="tiny: a check that it still runs")
    args = p.parse_args(argv)
    args.argv = argv
    args.concurrency = [int(k) for k in args.concurrency.split(",")]
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    if args.smoke:
        args.n, args.rounds, args.concurrency = 2, 1, [1, 2]
        args.scale, args.images, args.scale_requests = min(args.scale, 3), 1, 5
    args.trees = checkout_trees(p, args.tree, reserved=("dockerd", "floor"))
    # A tree is a contender whether or not --contenders names it too (once).
    args.contenders += [name for name in args.trees if name not in args.contenders]
    if set(args.contenders) - {"moorage", "dockerd", "floor", *args.trees}:
        p.error("contenders are moorage, dockerd, floor and the --tree names")
    if args.n < 1 or args.rounds < 1:
        p.error("-n and --rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_report("bench.lifecycle", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
