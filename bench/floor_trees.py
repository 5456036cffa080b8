"""The floor of several checkouts, before and after: libcontainerd's own CPU per lifecycle.

    .venv/bin/python -m bench.floor_trees --tree base=/tmp/base [-n 30] [--rounds 3]
                                          [--concurrency 1,8]

bench/lifecycle.py runs the floor (bench/floor.py) only from its own tree, in its own
process; bench/client_variants.py swaps parts of one tree in one process. Neither shows
a change to what is per process (grpcio's environment, libcontainerd/__init__.py), nor
another checkout's floor. Here each round starts, for this tree and every `--tree`
(the order rotating), a process of the floor's own from that checkout (its
libcontainerd, its bench/floor.py, with this venv; nothing of grpcio's environment
inherited from this process), on a private containerd of its own: warm-up, then `-n`
lifecycles K at a time for each K, and the process's CPU per lifecycle (the loop's
thread, grpcio's and the others' threads, and their voluntary context switches, from
/proc). Medians per tree and K at the end. Root only (containerd, runc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys

from bench.engines import REPO, checkout_trees, run_report

# Run in the checkout's own process, from its directory: its modules, not this tree's.
_CHILD = """
import asyncio, json, os, sys, tempfile, time
from pathlib import Path
from bench.floor import Floor
from bench.lifecycle import Tally, batch, floor_contender
from tests.support.containerd import TestContainerd, sweep

TICKS = os.sysconf("SC_CLK_TCK")

def threads():
    seen = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
            with open(f"/proc/self/task/{tid}/status") as f:
                status = f.read()
        except OSError:
            continue  # (a thread that ended in between)
        fields = stat[stat.rindex(")") + 2:].split()
        switches = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
        seen[tid] = (int(fields[11]) + int(fields[12]), switches)
    return seen

def spent(before, after, main):
    loop = others = switches = 0
    for tid, (ticks, vcs) in after.items():
        ticks0, vcs0 = before.get(tid, (0, 0))
        if tid == main:
            loop += ticks - ticks0
        else:
            others += ticks - ticks0
        switches += vcs - vcs0
    return loop / TICKS, others / TICKS, switches

async def main(n, ks):
    workdir = Path(tempfile.mkdtemp(prefix="moorage-floor-tree-"))
    containerd = TestContainerd(workdir / "containerd", namespace="floor-tree")
    await containerd.start()
    floor = Floor(containerd, workdir / "floor")
    results = {}
    try:
        await floor.start()
        pid = containerd.supervisor.pid
        await batch(floor_contender(floor), 4, 1, Tally(), pid)  # warm-up
        for k in ks:
            tally = Tally()
            before, cpu = threads(), time.process_time()
            await batch(floor_contender(floor), n, k, tally, pid)
            cpu, after = time.process_time() - cpu, threads()
            if tally.failures:
                raise RuntimeError(tally.first_error)
            loop, others, switches = spent(before, after, str(os.getpid()))
            count = tally.lifecycles
            results[k] = [cpu / count, loop / count, others / count, switches / count]
    finally:
        await floor.close()
        await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
    print(json.dumps(results))

asyncio.run(main(int(sys.argv[1]), [int(k) for k in sys.argv[2].split(",")]))
"""

# What a process's libcontainerd sets for itself (its __init__.py) is not handed on.
_OWN_SETTINGS = ("GRPC_EXPERIMENTS", "GRPC_ENABLE_FORK_SUPPORT")
FIELDS = ("cpu", "loop thread", "other threads", "switches")


async def floor_of(tree: str, n: int, ks: str) -> dict[int, list[float]]:
    env = {k: v for k, v in os.environ.items() if k not in _OWN_SETTINGS}
    env["PYTHONPATH"] = tree
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, str(n), ks,
        cwd=tree, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"floor of {tree}: exit {child.returncode}: {err.decode()[-800:]}")
    return {int(k): v for k, v in json.loads(out.decode().strip().splitlines()[-1]).items()}


async def run(args: argparse.Namespace) -> str:
    trees = [("this", str(REPO)), *((name, str(path)) for name, path in args.trees.items())]
    ks = [int(k) for k in args.concurrency.split(",")]
    results: dict[tuple[str, int], list[list[float]]] = {(t, k): [] for t, _ in trees for k in ks}
    for round_ in range(args.rounds):
        shift = round_ % len(trees)
        for name, path in trees[shift:] + trees[:shift]:
            for k, values in (await floor_of(path, args.n, args.concurrency)).items():
                results[(name, k)].append(values)
            load = os.getloadavg()[0]
            line = "  ".join(f"K={k} {results[(name, k)][-1][0] * 1000:.2f}" for k in ks)
            print(f"round {round_ + 1} {name} (load {load:.1f}): {line} ms", file=sys.stderr)
    lines = [
        f"floor CPU per lifecycle, medians of {args.rounds} rounds of {args.n} "
        f"(load at start {args.load_at_start}; ms, switches = voluntary context switches)",
        "",
        "| tree | K | " + " | ".join(FIELDS) + " |",
        "|---|---|" + "---:|" * len(FIELDS),
    ]
    for k in ks:
        for name, _ in trees:
            rows = results[(name, k)]
            cells = [statistics.median(r[i] for r in rows) for i in range(len(FIELDS))]
            shown = [f"{c * 1000:.2f}" for c in cells[:3]] + [f"{cells[3]:.0f}"]
            lines.append(f"| {name} | {k} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.floor_trees", description=__doc__.split("\n")[0])
    p.add_argument("--tree", action="append", default=[], help="NAME=PATH of a checkout")
    p.add_argument("-n", type=int, default=30, help="lifecycles per K per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", default="1,8")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    args.trees = checkout_trees(p, args.tree, reserved=("this",))
    return args


def main(argv: list[str] | None = None) -> int:
    return run_report("bench.floor_trees", parse, run, argv)


if __name__ == "__main__":
    sys.exit(main())
