"""What each change to libcontainerd's client stack buys: the floor with parts swapped back.

    .venv/bin/python -m bench.client_variants [--variants base,codec+filter+cork,all]
                                              [--rounds 4] [-n 20] [--concurrency 1,8]
                                              [--uvloop]

One private containerd; one floor (bench/floor.py) per variant, each in its own
namespace, all in this process; rounds of `-n` lifecycles per variant, interleaved
with the order rotating, and this process's CPU per lifecycle (time.process_time)
for each batch. A variant names what it keeps of this tree's client stack, the
rest being what it was before (issue 13):

- `codec`: the Rust wire codec (else betterproto2's codec),
- `filter`: the Subscribe filter on the task topics the daemon handles (else every topic
  of the namespace comes, as the namespace-only filter had it),
- `grpcio`: grpcio's C-core transport (else grpclib's, bench/grpclib_channel.py),
- `cork`: on grpclib, one socket write per loop turn (else grpclib's plain Channel),
- `base` keeps none (grpclib, no cork), `all` is this tree's stack (codec+filter+grpcio);
  join with `+` (e.g. `codec+filter+cork`: the stack before grpcio).

Medians per variant and K are printed at the end. Root only (containerd, runc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench.floor as floor_module
import libcontainerd.remote.client as remote_client
import libcontainerd.remote.rpc as rpc
from bench.grpclib_channel import GrpclibChannel
from bench.lifecycle import Tally, batch, floor_contender
from libcontainerd.remote import wirecodec
from libcontainerd.remote.event_decode import TOPICS
from tests.support.containerd import TestContainerd, sweep

PARTS = ("codec", "filter", "grpcio", "cork")
# What an unfiltered subscription brought per lifecycle besides the decoded topics.
OTHER_TOPICS = (
    "/tasks/delete",
    "/containers/create",
    "/containers/delete",
    "/snapshot/prepare",
    "/snapshot/remove",
)
RUST = wirecodec._rust


@dataclass
class Variant:
    name: str
    parts: frozenset[str]
    floor: floor_module.Floor | None = None

    def use(self) -> None:
        """Codec choice at call time: anycodec and the channel codec read it per message."""
        wirecodec._rust = RUST if "codec" in self.parts else None


def parse_variant(name: str) -> Variant:
    all_parts = {"codec", "filter", "grpcio"}
    parts = all_parts if name == "all" else set() if name == "base" else set(name.split("+"))
    if parts - set(PARTS):
        raise SystemExit(f"client_variants: unknown part in {name!r} (parts: {PARTS})")
    if {"grpcio", "cork"} <= parts:
        raise SystemExit("client_variants: `cork` is a grpclib part; grpcio does its own writes")
    return Variant(name, frozenset(parts))


def grpclib_channel(coalesce: bool) -> Callable[[Any], Any]:
    def replacement(_: Any) -> Any:
        def make(address: str, namespace: str, lease: Any, recorder: Any) -> GrpclibChannel:
            return GrpclibChannel(address, namespace, lease, recorder, coalesce)

        return make

    return replacement


# The part a variant does not keep: (module, name, what stands there instead). The codec
# is chosen at call time (Variant.use).
SWAPS: dict[str, tuple[object, str, Callable[[Any], Any]]] = {
    "filter": (
        remote_client,
        "topics_of",
        lambda _: lambda events: (*TOPICS, *OTHER_TOPICS),
    ),
}


def swaps(variant: Variant) -> list[tuple[object, str, Callable[[Any], Any]]]:
    chosen = [swap for part, swap in SWAPS.items() if part not in variant.parts]
    if "grpcio" not in variant.parts:
        chosen.append((rpc, "ContainerdChannel", grpclib_channel("cork" in variant.parts)))
    return chosen


async def start(variant: Variant, containerd: TestContainerd, workdir: Path) -> None:
    """The floor of `variant`: its connection is made with the parts it does not keep
    swapped back for the time of the construction."""
    saved: list[tuple[object, str, Any]] = [(floor_module, "NAMESPACE", floor_module.NAMESPACE)]
    for module, name, replacement in swaps(variant):
        original = getattr(module, name)
        saved.append((module, name, original))
        setattr(module, name, replacement(original))
    floor_module.NAMESPACE = "variant-" + variant.name.replace("+", "-")
    try:
        variant.floor = floor_module.Floor(containerd, workdir / variant.name)
        await variant.floor.start()
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


async def run(args: argparse.Namespace) -> str:
    variants = [parse_variant(v) for v in args.variants.split(",")]
    ks = [int(k) for k in args.concurrency.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="moorage-variants-"))
    containerd = TestContainerd(workdir / "containerd", namespace="variants")
    await containerd.start()
    results: dict[tuple[str, int], list[float]] = {(v.name, k): [] for v in variants for k in ks}
    try:
        containerd_pid = containerd.supervisor.pid
        assert containerd_pid is not None
        for variant in variants:
            await start(variant, containerd, workdir)
            assert variant.floor is not None
            variant.use()
            await batch(floor_contender(variant.floor), 3, 1, Tally(), containerd_pid)  # warm-up
        for round_ in range(args.rounds):
            shift = round_ % len(variants)
            for k in ks:
                for variant in variants[shift:] + variants[:shift]:
                    assert variant.floor is not None
                    variant.use()
                    tally = Tally()
                    before = time.process_time()
                    await batch(floor_contender(variant.floor), args.n, k, tally, containerd_pid)
                    spent = time.process_time() - before
                    if tally.failures:
                        raise RuntimeError(f"{variant.name}: {tally.first_error}")
                    results[(variant.name, k)].append(spent / tally.lifecycles)
            load = os.getloadavg()[0]
            line = "  ".join(
                f"{v.name} K={k} {results[(v.name, k)][-1] * 1000:.2f}"
                for k in ks
                for v in variants
            )
            print(f"round {round_ + 1} (load {load:.1f}): {line} ms", file=sys.stderr)
        lines = ["median ms CPU per lifecycle:"]
        for k in ks:
            medians = (
                f"{v.name} {statistics.median(results[(v.name, k)]) * 1000:.2f}" for v in variants
            )
            lines.append(f"K={k}: " + "  ".join(medians))
        return "\n".join(lines)
    finally:
        wirecodec._rust = RUST
        for variant in variants:
            if variant.floor is not None:
                await variant.floor.close()
        await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.client_variants", description=__doc__.split("\n")[0])
    p.add_argument("--variants", default="codec+filter+cork,all")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("-n", type=int, default=20, help="lifecycles per variant per round")
    p.add_argument("--concurrency", default="1,8")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop (the daemon's loop)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.client_variants: must run as root", file=sys.stderr)
        return 2
    if args.uvloop:
        import uvloop

        print(uvloop.run(run(args)))
    else:
        print(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
