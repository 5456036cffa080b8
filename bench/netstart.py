"""`docker run -d -p` start latency, moorage against dockerd 20.10, each with its bridge
networking on, in a private network namespace.

Run as root: `.venv/bin/python -m bench.netstart [-n 20]`. It makes a private network
namespace (`ip netns add`, `lo` up), re-runs itself inside it with `nsenter --net=`,
and there starts one private containerd and, one after the other, dockerd with its
default networking (docker0, iptables NAT, the userland proxy) and mooraged with its own
(moorage0, nftables). For each it times, with the docker CLI: `run -d -p PORT:80` of a
long-running busybox (a new host port each time; the container is removed untimed
afterwards) and `run --rm busybox true` on the default bridge. The namespace is deleted
at the end, taking every bridge, veth and rule with it; the machine's own network is
never touched.
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
from tests.support.containerd import TestContainerd, sweep
from tests.support.daemon import docker_env
from tests.support.images import write_docker_save

FIRST_PORT = 20000
WARMUP = 2


async def _docker(engine: Engine, cli: str, *args: str) -> float:
    """One docker CLI command against `engine`; its wall time (raises on failure)."""
    env = {**docker_env(engine.host), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        cli, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"docker {' '.join(args)}: {err.decode().strip()}")
    return elapsed


async def _measure(engine: Engine, cli: str, count: int, image: Path) -> dict[str, list[float]]:
    await _docker(engine, cli, "load", "-i", str(image))
    for _ in range(WARMUP):
        await _docker(engine, cli, "run", "--rm", "busybox", "true")
    published: list[float] = []
    for number in range(count):
        name = f"netstart{number}"
        port = FIRST_PORT + number
        run = ["run", "-d", "--name", name, "-p", f"{port}:80", "busybox", "sleep", "300"]
        published.append(await _docker(engine, cli, *run))
        await _docker(engine, cli, "rm", "-f", name)
    plain = [await _docker(engine, cli, "run", "--rm", "busybox", "true") for _ in range(count)]
    return {"run -d -p PORT:80": published, "run --rm true (bridge)": plain}


async def _inside(count: int, cli: str, binary: str) -> dict[str, dict[str, list[float]]]:
    footprint = HostFootprint()
    workdir = Path(tempfile.mkdtemp(prefix="moorage-netstart-"))
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


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _report(results: dict[str, dict[str, list[float]]], count: int) -> str:
    lines = [
        f"docker run start latency with bridge networking, n={count}, in a private netns "
        "(CLI wall time, ms)",
        "| case | daemon | p50 | p90 | max | moorage/dockerd p50 |",
        "|---|---|---|---|---|---|",
    ]
    for case in next(iter(results.values())):
        base = statistics.median(results["dockerd"][case]) if "dockerd" in results else None
        for daemon, cases in results.items():
            ms = [v * 1000 for v in cases[case]]
            ratio = f"{statistics.median(cases[case]) / base:.2f}" if base else ""
            lines.append(
                f"| {case} | {daemon} | {statistics.median(ms):.0f} | "
                f"{_percentile(ms, 0.9):.0f} | {max(ms):.0f} | "
                f"{ratio if daemon == 'moorage' else ''} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20, help="runs per case (default 20)")
    parser.add_argument("--docker", default="/usr/local/bin/docker", help="the docker CLI")
    parser.add_argument("--dockerd", default="dockerd", help="the dockerd 20.10 binary")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        results = asyncio.run(_inside(args.n, args.docker, args.dockerd))
        print(_report(results, args.n))
        return 0
    return rerun_in_private_netns(
        "bench.netstart", ["-n", str(args.n), "--docker", args.docker, "--dockerd", args.dockerd]
    )


if __name__ == "__main__":
    sys.exit(main())
