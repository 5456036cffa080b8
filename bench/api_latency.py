"""Engine API latency of container create, list and inspect, for one or more source trees.

    .venv/bin/python -m bench.api_latency [--tree NAME=PATH ...] [--containers 100] [-n 200]
                                          [--rounds 3]

One private containerd is started in a fresh directory under /tmp. In each round,
each tree's mooraged runs in turn on it (in the order given, reversed every other
round, so that neither tree always runs first on a noisy machine), with its own
data root: the busybox image is loaded, `--containers` containers are created
(`POST /containers/create` with a whole HostConfig, as the docker CLI sends, each
timed), then `-n` of `GET /containers/json?all=1`
and `-n` of `GET /containers/{id}/json` (over all the containers in turn) are
timed, and the containers are removed again. Requests go through one keep-alive
aiohttp session on the unix socket, so the times are the daemon's plus a small
constant of the client's. The report gives median and p90 per tree over all rounds.

A tree is any checkout of moorage (e.g. `git archive BASE | tar -x -C /tmp/base`); it
runs with this venv. Without `--tree` only this checkout is measured. Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

from bench.compare import percentile
from bench.engines import REPO, Engine, checkout_trees, moorage, run_report
from tests.support.containerd import TestContainerd, sweep
from tests.support.images import write_docker_save
from wire.host_config import HostConfig

WARMUP = 5


async def timed(request: Awaitable[object]) -> float:
    """How long awaiting `request` (a coroutine not yet started) takes."""
    started = time.perf_counter()
    await request
    return time.perf_counter() - started


async def load_image(engine: Engine, archive: Path) -> None:
    assert engine.session is not None
    data = await asyncio.to_thread(archive.read_bytes)
    async with engine.session.post(
        "http://engine/v1.41/images/load?quiet=1",
        data=data,
        headers={"Content-Type": "application/x-tar"},
    ) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"images/load: {response.status}")


async def measure(engine: Engine, args: argparse.Namespace) -> dict[str, list[float]]:
    """One daemon's times per operation, in seconds."""
    # A whole HostConfig, as the docker CLI sends one.
    host_config = {**HostConfig().to_dict(), "NetworkMode": "default"}
    body = {
        "Image": "busybox",
        "Cmd": ["true"],
        "Labels": {"bench": "api-latency"},
        "HostConfig": host_config,
    }
    ids: list[str] = []
    times: dict[str, list[float]] = {"create": [], "list": [], "inspect": []}

    async def create() -> None:
        reply = await engine.request("POST", "/containers/create", body)
        ids.append(reply["Id"])

    for index in range(args.containers):
        elapsed = await timed(create())
        if index >= WARMUP:
            times["create"].append(elapsed)
    try:
        for _ in range(WARMUP):
            await engine.request("GET", "/containers/json", all="1")
            await engine.request("GET", f"/containers/{ids[0]}/json")
        for _ in range(args.n):
            times["list"].append(await timed(engine.request("GET", "/containers/json", all="1")))
        for index in range(args.n):
            cid = ids[index % len(ids)]
            times["inspect"].append(await timed(engine.request("GET", f"/containers/{cid}/json")))
    finally:
        for cid in ids:
            await engine.request("DELETE", f"/containers/{cid}")
    return times


async def run(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    workdir = Path(tempfile.mkdtemp(prefix="moorage-api-latency-"))
    results: dict[str, dict[str, list[float]]] = {
        name: {"create": [], "list": [], "inspect": []} for name, _ in args.trees
    }
    containerd = TestContainerd(workdir / "containerd", namespace="bench-moorage")
    try:
        await containerd.start()
        archive = workdir / "busybox.tar"
        write_docker_save(archive)
        for round_ in range(args.rounds):
            order = args.trees if round_ % 2 == 0 else list(reversed(args.trees))
            for name, tree in order:
                engine = moorage(workdir / f"{name}-{round_}", containerd.address, tree)
                try:
                    await engine.start()
                    await load_image(engine, archive)
                    times = await measure(engine, args)
                finally:
                    await engine.stop()
                for op, values in times.items():
                    results[name][op].extend(values)
                summary = ", ".join(
                    f"{op} {statistics.median(v) * 1000:.2f} ms" for op, v in times.items()
                )
                print(f"round {round_ + 1} {name}: {summary}", file=sys.stderr, flush=True)
    finally:
        with contextlib.suppress(Exception):
            await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
    return results


def report(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.containers} containers (created), {args.n} list and {args.n} inspect requests"
        f" per round, {args.rounds} rounds; load average at start {args.load_at_start}",
        "",
        "| tree | op | median ms | p90 ms | samples |",
        "|---|---|---|---|---|",
    ]
    for name, ops in results.items():
        for op, values in ops.items():
            if values:
                lines.append(
                    f"| {name} | {op} | {statistics.median(values) * 1000:.2f}"
                    f" | {percentile(values, 0.9) * 1000:.2f} | {len(values)} |"
                )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="api_latency", description="Engine API latency")
    p.add_argument("--tree", action="append", default=[], help="NAME=PATH of a moorage checkout")
    p.add_argument("--containers", type=int, default=100)
    p.add_argument("-n", type=int, default=200, help="list and inspect requests per round")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    trees = list(checkout_trees(p, args.tree or [f"this={REPO}"]).items())
    if args.containers <= WARMUP or args.n < 1 or args.rounds < 1:
        p.error(f"--containers must be above {WARMUP}, -n and --rounds at least 1")
    args.trees = trees
    return args


async def measured(args: argparse.Namespace) -> str:
    return report(await run(args), args)


def main(argv: list[str] | None = None) -> int:
    return run_report("api_latency", parse_args, measured, argv)


if __name__ == "__main__":
    sys.exit(main())
