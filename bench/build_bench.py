"""The build row: wall time and containerd RPCs of `DOCKER_BUILDKIT=0 docker build` of a
10-step Dockerfile (tests/support/buildcontexts.py TEN_STEPS), cold (`--no-cache`, every
step runs) and cached (nothing changed: every step from the cache), on dockerd 20.10's
classic builder and on moorage, one after the other on one private containerd, as
bench/compare.py runs its cases.

    .venv/bin/python -m bench.build_bench [-n 5] [--daemons dockerd,moorage] [--out FILE]

Prints a Markdown table (and writes it to --out when given).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

from bench.compare import Counters, default_cli, delta
from bench.engines import Engine, named, private_containerd
from tests.support.buildcontexts import ten_step_files, write_context

CASES = ("build 10 steps, cold (--no-cache)", "build 10 steps, cached")


async def _docker(cli: str, engine: Engine, config: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=engine.host, DOCKER_BUILDKIT="0", DOCKER_CONFIG=str(config))
    proc = await asyncio.create_subprocess_exec(
        cli, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {err.decode()[-500:]}")
    return out.decode()


async def _measure(
    engine: Engine, counters: Counters, args: argparse.Namespace, workdir: Path, image: Path
) -> dict[str, tuple[list[float], float]]:
    """Per case: the times of the runs and the RPCs per build."""
    config = workdir / f"cli-{engine.name}"
    context = write_context(workdir / "context", ten_step_files())
    await engine.start()
    try:
        await _docker(args.docker, engine, config, "load", "-i", str(image))
        # Warm-up, not counted: the first build fills the cache for the cached case.
        await _docker(args.docker, engine, config, "build", "-t", "bench/build", str(context))
        results: dict[str, tuple[list[float], float]] = {}
        for case, extra in zip(CASES, (["--no-cache"], []), strict=True):
            before = await counters.settled()
            times = []
            for _ in range(args.n):
                start = time.perf_counter()
                await _docker(
                    args.docker, engine, config, "build", *extra, "-t", "bench/build",
                    str(context),
                )  # fmt: skip
                times.append(time.perf_counter() - start)
            rpcs = delta(before, await counters.settled())
            results[case] = (times, sum(rpcs.values()) / args.n)
        return results
    finally:
        await engine.stop()


def _report(runs: dict[str, dict[str, tuple[list[float], float]]], n: int) -> str:
    names = list(runs)
    header = " | ".join(f"{name} s | {name} RPCs" for name in names)
    lines = [
        f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        "",
        f"| operation (median of {n}) | {header} |",
        "|---|" + "---:|---:|" * len(names),
    ]
    for case in CASES:
        cells = []
        for name in names:
            times, rpcs = runs[name][case]
            cells.append(f"{statistics.median(times):.2f} | {rpcs:.0f}")
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> str:
    runs: dict[str, dict[str, tuple[list[float], float]]] = {}
    async with private_containerd("moorage-build-bench-") as space:
        workdir, containerd = space.workdir, space.containerd
        counters = Counters(containerd)
        for name in args.daemons:
            engine = named(name, workdir, containerd.address, args.dockerd)
            runs[name] = await _measure(engine, counters, args, workdir / name, space.busybox)
    return _report(runs, args.n)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.build_bench")
    p.add_argument("-n", type=int, default=5, help="builds per case (default 5)")
    p.add_argument("--daemons", default="dockerd,moorage")
    p.add_argument("--docker", default=default_cli())
    p.add_argument("--dockerd", default="dockerd")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    args.daemons = [d.strip() for d in args.daemons.split(",") if d.strip()]
    text = asyncio.run(main_async(args))
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
