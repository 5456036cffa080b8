"""Daemon start-up with a full store: moorage trees (and dockerd), restarted in turn.

    .venv/bin/python -m bench.startup [--containers 200] [--images 20] [--restarts 5]
                                      [--tree base=/tmp/base] [--no-dockerd] [--profile DIR]

One private containerd; on it each contender (this tree's mooraged, every `--tree`
checkout's, and dockerd 20.10 with `--live-restore` unless `--no-dockerd`) gets
`--containers` running containers and `--images` more images, each in its own
namespace and data root, and runs with `--live-restore` (containers run on across a
restart). Then `--restarts` rounds: in each, every contender in turn
(the order rotates every round) is stopped (SIGTERM; containers run on) and started
again. Per restart it records, as `bench.lifecycle --scale` defines them: the time
from the process's spawn until `/_ping` answers 200, and until all the containers
are listed running; and the daemon's own CPU seconds (utime + stime from /proc) at
those two moments, which move less with the machine's load than the wall times do.

`--profile DIR` starts every moorage under cProfile (`DIR/<name>-<round>.prof`,
written when it stops): the wall times then include the profiler's overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import procstat
from bench.api_latency import load_image
from bench.compare import command_output
from bench.engines import (
    REPO,
    Engine,
    checkout_trees,
    dockerd,
    moorage,
    private_containerd,
    run_report,
)
from bench.lifecycle import CMD, extra_images

POPULATE_AT_ONCE = 4
RESTORE_TIMEOUT = 120.0


@dataclass
class Restarts:
    ping: list[float] = field(default_factory=list)
    listed: list[float] = field(default_factory=list)
    ping_cpu: list[float] = field(default_factory=list)
    listed_cpu: list[float] = field(default_factory=list)


async def populate(engine: Engine, workdir: Path, containers: int, images: int) -> None:
    sem = asyncio.Semaphore(POPULATE_AT_ONCE)

    async def run_one() -> None:
        async with sem:
            body = {"Image": "busybox", "Cmd": CMD}
            cid = (await engine.request("POST", "/containers/create", body))["Id"]
            await engine.request("POST", f"/containers/{cid}/start")

    await asyncio.gather(*(run_one() for _ in range(containers)))
    await extra_images(engine, workdir, images)


async def restart(engine: Engine, containers: int, into: Restarts) -> None:
    await engine.stop()
    started = time.perf_counter()
    await engine.start()  # returns at the first 200 on /_ping
    into.ping.append(time.perf_counter() - started)
    assert engine.proc is not None
    pid = engine.proc.pid
    into.ping_cpu.append(procstat.cpu(pid).own)
    deadline = time.monotonic() + RESTORE_TIMEOUT
    while True:
        running = await engine.request("GET", "/containers/json")
        if len(running) >= containers:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{engine.name}: {len(running)} of {containers} listed; log tail:\n"
                + engine.log_tail()
            )
        await asyncio.sleep(0.01)
    into.listed.append(time.perf_counter() - started)
    into.listed_cpu.append(procstat.cpu(pid).own)


def header(args: argparse.Namespace) -> list[str]:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    git = command_output("git", "-C", str(REPO), "describe", "--always", "--dirty")
    return [
        f"Run {now} by `.venv/bin/python -m bench.startup {' '.join(args.argv)}`.",
        "",
        f"- machine: {os.cpu_count()} cores, load average at start {args.load_at_start},"
        f" at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- moorage git {git}, Python {platform.python_version()};"
        f" dockerd: {command_output(args.dockerd, '--version')}",
        "",
    ]


def report(args: argparse.Namespace, results: dict[str, Restarts]) -> list[str]:
    names = list(results)

    def row(label: str, pick: str) -> str:
        cells = []
        for name in names:
            values: list[float] = getattr(results[name], pick)
            cells.append(
                f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"
                if values
                else "—"
            )
        return f"| {label} | " + " | ".join(cells) + " |"

    return [
        f"### Start-up: {args.containers} running containers, {args.images} extra images",
        "",
        f"{args.restarts} restarts per contender, order rotating; median (min-max).",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        row("start-up to /_ping s", "ping"),
        row("restart until all listed s", "listed"),
        row("daemon CPU s at /_ping", "ping_cpu"),
        row("daemon CPU s when all listed", "listed_cpu"),
    ]


async def run(args: argparse.Namespace) -> str:
    engines: list[Engine] = []
    async with private_containerd("moorage-startup-") as space:
        workdir, containerd = space.workdir, space.containerd
        try:
            for name in args.contenders:
                if name == "dockerd":
                    engine = dockerd(workdir, containerd.address, args.dockerd)
                else:
                    engine = moorage(workdir / name, containerd.address, args.trees.get(name, REPO))
                    engine.name = name
                    engine.argv[engine.argv.index("bench-moorage")] = f"bench-{name}"
                engine.argv.append("--live-restore")
                engines.append(engine)
                await engine.start()
                await load_image(engine, space.busybox)
                print(f"populating {name}", file=sys.stderr)
                await populate(engine, workdir, args.containers, args.images)
            results = {engine.name: Restarts() for engine in engines}
            base_argv = {engine.name: list(engine.argv) for engine in engines}
            for round_ in range(args.restarts):
                shift = round_ % len(engines)
                for engine in engines[shift:] + engines[:shift]:
                    print(f"restart {round_ + 1}: {engine.name}", file=sys.stderr)
                    if args.profile and engine.name != "dockerd":
                        out = Path(args.profile) / f"{engine.name}-{round_ + 1}.prof"
                        python, _, *rest = base_argv[engine.name]  # python -m mooraged ...
                        engine.argv = [python, "-m", "cProfile", "-o", str(out), "-m", *rest]
                    await restart(engine, args.containers, results[engine.name])
            return "\n".join([*header(args), "", *report(args, results)])
        finally:
            for engine in engines:
                with contextlib.suppress(Exception):
                    await engine.stop()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.startup", description=__doc__.split("\n")[0])
    p.add_argument("--containers", type=int, default=200)
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--restarts", type=int, default=5)
    p.add_argument("--tree", action="append", default=[], help="NAME=PATH: another checkout")
    p.add_argument("--no-dockerd", action="store_true", help="moorage trees only")
    p.add_argument("--dockerd", default="dockerd")
    p.add_argument("--profile", default="", help="run moorage under cProfile, files here")
    p.add_argument("--out", default="", help="also write the report here")
    args = p.parse_args(argv)
    args.argv = argv
    args.trees = checkout_trees(p, args.tree, reserved=("dockerd", "moorage"))
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    args.contenders = ["moorage", *args.trees] + ([] if args.no_dockerd else ["dockerd"])
    if args.restarts < 1:
        p.error("--restarts must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return run_report("bench.startup", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
