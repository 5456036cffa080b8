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

import statistics
import sys
from pathlib import Path

from bench.engines import Engine, Results, bridged_in_turn, bridged_main, timed_command
from tests.support.compose import EXAMPLE_PROJECT

UP = ("up", "-d", "--scale", "worker=3")
DOWN = ("down", "-v", "-t", "1")


async def _measure(engine: Engine, cli: str, count: int, image: Path) -> dict[str, list[float]]:
    compose = ["docker-compose", "-p", "bench", "-f", str(EXAMPLE_PROJECT / "docker-compose.yml")]
    await timed_command(engine, cli, "load", "-i", str(image))
    await timed_command(engine, *compose, *UP)  # warm-up: first network, first volume, caches
    await timed_command(engine, *compose, *DOWN)
    ups: list[float] = []
    downs: list[float] = []
    for _ in range(count):
        ups.append(await timed_command(engine, *compose, *UP))
        downs.append(await timed_command(engine, *compose, *DOWN))
    return {" ".join(UP): ups, " ".join(DOWN): downs}


async def _inside(count: int, cli: str, binary: str) -> dict[str, Results]:
    return await bridged_in_turn(
        "moorage-compose-up-", binary, lambda engine, image: _measure(engine, cli, count, image)
    )


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
    return bridged_main(
        "bench.compose_up", __doc__ or "", 10, "up/down rounds per daemon", _inside, _report
    )


if __name__ == "__main__":
    sys.exit(main())
