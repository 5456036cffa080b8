"""mooraged's CPU per API request, for one or more source trees, in one interleaved run.

    .venv/bin/python -m bench.http_cost [--tree NAME=PATH ...] [-n 2000] [--block 50]
                                        [--rounds 3]

One private containerd; each tree's mooraged runs on it at the same time (each in its own
namespace), loads busybox, creates and starts one container. Then, for each kind of
request, the daemons take turns answering blocks of `--block` sequential requests on one
keep-alive connection (the order of the trees alternating), `-n` in all per daemon:
`GET /_ping`, `GET /v1.41/containers/{id}/json`, the same of an unknown id (a 404 through
the error mapping), `GET /containers/{id}/json` without the version prefix, and the two
lifecycle requests of an exec that make no RPC: its create (`POST
/v1.41/containers/{id}/exec`, a JSON body in, a 201 out) and its inspect. A daemon's
CPU time over its blocks (the scheduler's count, /proc/PID/task/*/schedstat) divided by
`-n` is the cost of one request: the HTTP layer and the handler, without any containerd
RPC (none of these makes one). Taking turns in small blocks, the trees see the same load
on a shared machine. The client's CPU is not counted. Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import procstat
from bench.api_latency import load_image
from bench.engines import REPO, Engine, checkout_trees, moorage, per_request_table, run_report
from tests.support.containerd import TestContainerd, sweep
from tests.support.images import write_docker_save

WARMUP = 50
KINDS = ("ping", "inspect", "inspect-404", "inspect-unversioned", "exec-create", "exec-inspect")
EXEC_BODY = {"Cmd": ["true"], "AttachStdout": True, "AttachStderr": True}

# A request: method, URL, the status it must get, its JSON body (or None).
Request = tuple[str, str, int, dict[str, Any] | None]


async def _call(engine: Engine, method: str, url: str, want: int, body: Any) -> None:
    assert engine.session is not None
    async with engine.session.request(method, url, json=body) as response:
        await response.read()
        if response.status != want:
            raise RuntimeError(f"{url}: {response.status}, wanted {want}")


async def _setup(engine: Engine) -> tuple[str, str]:
    """A running container of `engine` and an exec of it (not started); their ids."""
    body = {"Image": "busybox", "Cmd": ["sleep", "3600"]}
    cid: str = (await engine.request("POST", "/containers/create", body))["Id"]
    await engine.request("POST", f"/containers/{cid}/start")
    eid: str = (await engine.request("POST", f"/containers/{cid}/exec", EXEC_BODY))["Id"]
    return cid, eid


def _requests(cid: str, eid: str) -> dict[str, Request]:
    return {
        "ping": ("GET", "http://engine/_ping", 200, None),
        "inspect": ("GET", f"http://engine/v1.41/containers/{cid}/json", 200, None),
        "inspect-404": ("GET", "http://engine/v1.41/containers/nosuchcontainer/json", 404, None),
        "inspect-unversioned": ("GET", f"http://engine/containers/{cid}/json", 200, None),
        "exec-create": ("POST", f"http://engine/v1.41/containers/{cid}/exec", 201, EXEC_BODY),
        "exec-inspect": ("GET", f"http://engine/v1.41/exec/{eid}/json", 200, None),
    }


async def measure(engines: list[Engine], n: int, block: int) -> dict[str, dict[str, float]]:
    """Each daemon's CPU seconds per request of each kind, the daemons taking turns."""
    urls = {engine.name: _requests(*await _setup(engine)) for engine in engines}
    out: dict[str, dict[str, float]] = {engine.name: {} for engine in engines}
    for kind in KINDS:
        spent = dict.fromkeys(urls, 0)
        for engine in engines:
            for _ in range(WARMUP):
                await _call(engine, *urls[engine.name][kind])
        for turn in range(n // block):
            for engine in engines if turn % 2 == 0 else reversed(engines):
                assert engine.proc is not None
                request = urls[engine.name][kind]
                before = procstat.runtime_ns(engine.proc.pid)
                for _ in range(block):
                    await _call(engine, *request)
                spent[engine.name] += procstat.runtime_ns(engine.proc.pid) - before
        for name, ns in spent.items():
            out[name][kind] = ns / 1e9 / (n // block * block)
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
            engines = []
            try:
                for name, tree in args.trees:
                    engine = moorage(workdir / f"{name}-{round_}", containerd.address, tree)
                    engine.name = name
                    # Side by side on one containerd: a namespace each.
                    engine.argv[engine.argv.index("bench-moorage")] = f"bench-{name}"
                    engines.append(engine)
                    await engine.start()
                    await load_image(engine, archive)
                costs = await measure(engines, args.n, args.block)
            finally:
                for engine in engines:
                    await engine.stop()
            for name, kinds in costs.items():
                for kind, seconds in kinds.items():
                    results[name][kind].append(seconds)
                summary = ", ".join(f"{k} {v * 1e6:.0f} us" for k, v in kinds.items())
                print(f"round {round_ + 1} {name}: {summary}", file=sys.stderr, flush=True)
    finally:
        with contextlib.suppress(Exception):
            await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
    return results


def report(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    heading = (
        f"daemon CPU us per request, median of {args.rounds} rounds of {args.n}"
        f" (turns of {args.block}); load average at start {args.load_at_start}"
    )
    return per_request_table(heading, results, KINDS, lambda s: f"{s * 1e6:.0f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="http_cost", description="mooraged CPU per API request")
    p.add_argument("--tree", action="append", default=[], help="NAME=PATH of a moorage checkout")
    p.add_argument("-n", type=int, default=2000, help="requests of each kind per round")
    p.add_argument("--block", type=int, default=50, help="requests a daemon answers per turn")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    trees = list(checkout_trees(p, args.tree or [f"this={REPO}"]).items())
    if args.block < 1 or args.n < args.block or args.rounds < 1:
        p.error("--block and --rounds must be at least 1, -n at least --block")
    args.trees = trees
    return args


async def measured(args: argparse.Namespace) -> str:
    return report(await run(args), args)


def main(argv: list[str] | None = None) -> int:
    return run_report("http_cost", parse_args, measured, argv)


if __name__ == "__main__":
    sys.exit(main())
