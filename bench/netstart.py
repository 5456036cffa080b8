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

import statistics
import sys
from pathlib import Path

from bench.engines import Engine, Results, bridged_in_turn, bridged_main, timed_command

FIRST_PORT = 20000
WARMUP = 2


async def _measure(engine: Engine, cli: str, count: int, image: Path) -> dict[str, list[float]]:
    await timed_command(engine, cli, "load", "-i", str(image))
    for _ in range(WARMUP):
        await timed_command(engine, cli, "run", "--rm", "busybox", "true")
    published: list[float] = []
    for number in range(count):
        name = f"netstart{number}"
        port = FIRST_PORT + number
        run = ["run", "-d", "--name", name, "-p", f"{port}:80", "busybox", "sleep", "300"]
        published.append(await timed_command(engine, cli, *run))
        await timed_command(engine, cli, "rm", "-f", name)
    plain = [
        await timed_command(engine, cli, "run", "--rm", "busybox", "true") for _ in range(count)
    ]
    return {"run -d -p PORT:80": published, "run --rm true (bridge)": plain}


async def _inside(count: int, cli: str, binary: str) -> dict[str, Results]:
    return await bridged_in_turn(
        "moorage-netstart-", binary, lambda engine, image: _measure(engine, cli, count, image)
    )


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
    return bridged_main(
        "bench.netstart", __doc__ or "", 20, "runs per case (default 20)", _inside, _report
    )


if __name__ == "__main__":
    sys.exit(main())
