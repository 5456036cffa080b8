"""What one unary call to containerd costs the client: grpcio against the bare connection.

    .venv/bin/python -m bench.floor_transport [-n 2000] [--rounds 5] [--loop uvloop]

libcontainerd makes a unary call on a bare HTTP/2 connection of the loop's own where it
fits (libcontainerd/remote/h2unary.py), through grpcio where not. This times the same
`Version.Version` call, in turns, on a client of each kind (`BARE_UNARY` on and off) on
one private containerd, and prints the loop thread's and the process's CPU per call
(medians): grpcio starts the batch in its C-core on the loop's thread, completes it on
grpc.aio's poller thread, which wakes the loop through a socketpair; the bare connection
writes a few frames and reads the answer where it lands. Root only (containerd).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.engines import run_report
from libcontainerd.remote import channel
from libcontainerd.remote.gen.containerd.services.version.v1 import VersionResponse
from libcontainerd.remote.rpc import Connection
from tests.support.containerd import TestContainerd, sweep


async def measure(args: argparse.Namespace) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="moorage-transport-"))
    containerd = TestContainerd(workdir / "containerd", namespace="transport")
    await containerd.start()
    clients = {}
    for name, bare in (("grpcio", False), ("bare HTTP/2", True)):
        channel.BARE_UNARY = bare  # (read when a client is made)
        clients[name] = Connection(containerd.address, "transport")
    try:
        contenders: dict[str, Callable[[], Awaitable[VersionResponse]]] = {
            name: conn.stubs.version.version for name, conn in clients.items()
        }
        for call in contenders.values():  # warm-up; and both answer
            answers = [await call() for _ in range(200)]
            assert answers[-1].version
        cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        for round_ in range(args.rounds):
            order = list(contenders.items())
            for name, call in order[round_ % 2 :] + order[: round_ % 2]:
                thread, process = time.thread_time(), time.process_time()
                for _ in range(args.n):
                    await call()
                thread, process = time.thread_time() - thread, time.process_time() - process
                cpu[name].append((thread / args.n, process / args.n))
    finally:
        for conn in clients.values():
            await conn.close()
        await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
    lines = [
        f"Version.Version, CPU us per call, medians of {args.rounds} rounds of {args.n} "
        f"({args.loop}; load at start {args.load_at_start})",
        "",
        "| transport | loop thread | process |",
        "|---|---:|---:|",
    ]
    for name, rows in cpu.items():
        loop_us = statistics.median(r[0] for r in rows) * 1e6
        process_us = statistics.median(r[1] for r in rows) * 1e6
        lines.append(f"| {name} | {loop_us:.1f} | {process_us:.1f} |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> str:
    if args.loop == "uvloop":
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        return await asyncio.to_thread(lambda: runner.run(measure(args)))
    return await measure(args)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.floor_transport", description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=2000, help="calls per round and transport")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    p.add_argument("--out", default="")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_report("bench.floor_transport", parse, run, argv)


if __name__ == "__main__":
    sys.exit(main())
