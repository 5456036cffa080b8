"""mooraged's CPU per API request, for one or more source trees, in one interleaved run.

    .venv/bin/python -m bench.http_cost [--tree NAME=PATH ...] [-n 2000] [--rounds 3]

One private containerd; in each round each tree's mooraged runs in turn on it (the order
reversed every other round), loads busybox, creates and starts one container, and then
answers `-n` sequential requests of each kind on one keep-alive connection: `GET /_ping`,
`GET /v1.41/containers/{id}/json`, `GET /v1.41/containers/{id}/json` of an unknown id (a
404 through the error mapping) and `GET /containers/{id}/json` without the version prefix.
The daemon's own CPU (from /proc, before and after each kind) divided by `-n` is the cost
of one request: the HTTP layer and the handler, without any containerd RPC (none of these
makes one). The client's CPU is not counted. Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench import procstat
from bench.api_latency import load_image
from bench.engines import REPO, Engine, moorage
from tests.support.containerd import TestContainerd, sweep
from tests.support.images import write_docker_save

WARMUP = 50
KINDS = ("ping", "inspect", "inspect-404", "inspect-unversioned")


async def _get(engine: Engine, url: str, want: int) -> None:
    assert engine.session is not None
    async with engine.session.get(url) as response:
        await response.read()
        if response.status != want:
            raise RuntimeError(f"{url}: {response.status}, wanted {want}")


async def measure(engine: Engine, n: int) -> dict[str, float]:
    """Daemon CPU seconds per request of each kind."""
    assert engine.proc is not None
    body = {"Image": "busybox", "Cmd": ["sleep", "3600"]}
    cid = (await engine.request("POST", "/containers/create", body))["Id"]
    await engine.request("POST", f"/containers/{cid}/start")
    urls = {
        "ping": ("http://engine/_ping", 200),
        "inspect": (f"http://engine/v1.41/containers/{cid}/json", 200),
        "inspect-404": ("http://engine/v1.41/containers/nosuchcontainer/json", 404),
        "inspect-unversioned": (f"http://engine/containers/{cid}/json", 200),
    }
    out: dict[str, float] = {}
    try:
        for kind in KINDS:
            url, want = urls[kind]
            for _ in range(WARMUP):
                await _get(engine, url, want)
            await procstat.settled(engine.proc.pid)
            before = procstat.cpu(engine.proc.pid)
            for _ in range(n):
                await _get(engine, url, want)
            out[kind] = (procstat.cpu(engine.proc.pid) - before).own / n
    finally:
        await engine.request("DELETE", f"/containers/{cid}", force="1")
    return out


async def run(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    workdir = Path(tempfile.mkdtemp(prefix="moorage-http-cost-"))
    results: dict[str, dict[str, list[float]]] = {
        name: {kind: [] for kind in KINDS} for name, _ in args.trees
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
                    costs = await measure(engine, args.n)
                finally:
                    await engine.stop()
                for kind, seconds in costs.items():
                    results[name][kind].append(seconds)
                summary = ", ".join(f"{k} {v * 1e6:.0f} us" for k, v in costs.items())
                print(f"round {round_ + 1} {name}: {summary}", file=sys.stderr, flush=True)
    finally:
        with contextlib.suppress(Exception):
            await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
    return results


def report(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    names = list(results)
    lines = [
        f"daemon CPU us per request, median of {args.rounds} rounds of {args.n};"
        f" load average at start {args.load_at_start}",
        "",
        "| request | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for kind in KINDS:
        cells = [f"{statistics.median(results[name][kind]) * 1e6:.0f}" for name in names]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="http_cost", description="mooraged CPU per API request")
    p.add_argument("--tree", action="append", default=[], help="NAME=PATH of a moorage checkout")
    p.add_argument("-n", type=int, default=2000, help="requests of each kind per round")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    trees = []
    for spec in args.tree or [f"this={REPO}"]:
        name, sep, path = spec.partition("=")
        if not sep or not Path(path, "daemon").is_dir():
            p.error(f"--tree wants NAME=PATH of a moorage checkout: {spec}")
        trees.append((name, Path(path).resolve()))
    if args.n < 1 or args.rounds < 1:
        p.error("-n and --rounds must be at least 1")
    args.trees = trees
    return args


def main(argv: list[str] | None = None) -> int:
    if os.geteuid() != 0:
        print("http_cost: must run as root (containerd, runc)", file=sys.stderr)
        return 2
    args = parse_args(argv)
    args.load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(report(asyncio.run(run(args)), args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
