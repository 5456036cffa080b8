"""`docker-compose up -d` wall time of the example project (examples/compose/), moorage
against dockerd 20.10, each with its bridge networking on, in a private network namespace.

Run as root: `.venv/bin/python -m bench.compose_up [-n 10]`. As bench.netstart does, it
re-runs itself inside a network namespace of its own, starts one private containerd there
and, one after the other, dockerd and mooraged on it. For each it loads busybox, brings the
project up and down once untimed, then `-n` times times `docker-compose up -d --scale
worker=3` (two networks, a volume, six containers; web waits for db's health check, which
db passes about 2 s after it starts, so that wait is in every number) and `down -v -t 1`.
The namespace is deleted at the end with everything made in it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.engines import Engine, HostFootprint, dockerd, moorage, rerun_in_private_netns
from tests.support.compose import EXAMPLE_PROJECT
from tests.support.containerd import TestContainerd, sweep
from tests.support.daemon import docker_env
from tests.support.images import write_docker_save

UP = ("up", "-d", "--scale", "worker=3")
DOWN = ("down", "-v", "-t", "1")


async def _timed(engine: Engine, *argv: str) -> float:
    """One command with the docker environment of `engine`; its wall time (raises on
    failure)."""
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


async def _measure(engine: Engine, cli: str, count: int, image: Path) -> dict[str, list[float]]:
    compose = ["docker-compose", "-p", "bench", "-f", str(EXAMPLE_PROJECT / "docker-compose.yml")]
    await _timed(engine, cli, "load", "-i", str(image))
    await _timed(engine, *compose, *UP)  # warm-up: first network, first volume, caches
    await _timed(engine, *compose, *DOWN)
    ups: list[float] = []
    downs: list[float] = []
    for _ in range(count):
        ups.append(await _timed(engine, *compose, *UP))
        downs.append(await _timed(engine, *compose, *DOWN))
    return {" ".join(UP): ups, " ".join(DOWN): downs}


async def _inside(count: int, cli: str, binary: str) -> dict[str, dict[str, list[float]]]:
    footprint = HostFootprint()
    workdir = Path(tempfile.mkdtemp(prefix="moorage-compose-up-"))
    containerd = TestContainerd(workdir / "containerd", namespace="bench-moorage")
    results: dict[str, dict[str, list[float]]] = {}
    try:
        await containerd.start()
        image = workdir / "busybox.tar"
        write_docker_save(image)
        for name in ("dockerd", "moorage"):
            if name == "dockerd":
                engine = dockerd(workdir, containerd.address, binary, bridge=True)
            else:
                engine = moorage(workdir, containerd.address, bridge=True)
            await engine.start()
            try:
                results[name] = await _measure(engine, cli, count, image)
            finally:
                await engine.stop()
    finally:
        with contextlib.suppress(Exception):
            await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
        footprint.restore()
    return results


def _report(results: dict[str, dict[str, list[float]]], count: int) -> str:
    lines = [
        f"docker-compose 1.29.2, examples/compose, n={count}, in a private netns (wall time, s)",
        "| command | daemon | median | min | max | moorage/dockerd median |",
        "|---|---|---|---|---|---|",
    ]
    for case in next(iter(results.values())):
        base = statistics.median(results["dockerd"][case]) if "dockerd" in results else None
        for daemon, cases in results.items():
            median = statistics.median(cases[case])
            ratio = f"{median / base:.2f}" if base and daemon == "moorage" else ""
            lines.append(
                f"| {case} | {daemon} | {median:.2f} | {min(cases[case]):.2f} | "
                f"{max(cases[case]):.2f} | {ratio} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10, help="up/down rounds per daemon")
    parser.add_argument("--docker", default="/usr/local/bin/docker", help="the docker CLI")
    parser.add_argument("--dockerd", default="dockerd", help="the dockerd 20.10 binary")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        results = asyncio.run(_inside(args.n, args.docker, args.dockerd))
        print(_report(results, args.n))
        return 0
    return rerun_in_private_netns(
        "bench.compose_up",
        ["-n", str(args.n), "--docker", args.docker, "--dockerd", args.dockerd],
    )


if __name__ == "__main__":
    sys.exit(main())
