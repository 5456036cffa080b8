"""What each change to libcontainerd's client stack buys: the floor with parts swapped back.

    .venv/bin/python -m bench.client_variants [--variants base,codec,codec+filter,all]
                                              [--rounds 4] [-n 20] [--concurrency 1,8]
                                              [--uvloop]

One private containerd; one floor (bench/floor.py) per variant, each in its own
namespace, all in this process; rounds of `-n` lifecycles per variant, interleaved
with the order rotating, and this process's CPU per lifecycle (time.process_time)
for each batch. A variant names what it keeps of this tree's client stack, the
rest being what it was before (issue 13):

- `codec`: the Rust wire codec (else grpclib's ProtoCodec and betterproto2's codec),
- `filter`: the Subscribe filter on the decoded task topics (else every topic of the
  namespace comes, as the namespace-only filter had it),
- `cork`: one socket write per loop turn (else grpclib's Channel),
- `base` keeps none, `all` keeps all; join with `+` (e.g. `codec+filter`).

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

from grpclib.client import Channel
from grpclib.encoding.proto import ProtoCodec

import bench.floor as floor_module
import libcontainerd.remote.client as remote_client
import libcontainerd.remote.rpc as rpc
from bench.lifecycle import Tally, batch, floor_contender
from libcontainerd.remote import wirecodec
from tests.support.containerd import TestContainerd, sweep

PARTS = ("codec", "filter", "cork")
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
    parts = set(PARTS) if name == "all" else set() if name == "base" else set(name.split("+"))
    if parts - set(PARTS):
        raise SystemExit(f"client_variants: unknown part in {name!r} (parts: {PARTS})")
    return Variant(name, frozenset(parts))


# The part a variant does not keep: (module, name, what stands there instead).
SWAPS: dict[str, tuple[object, str, Callable[[Any], Any]]] = {
    "cork": (rpc, "CoalescingChannel", lambda _: Channel),
    "codec": (rpc, "GrpcCodec", lambda _: ProtoCodec),
    "filter": (remote_client, "TOPICS", lambda topics: (*topics, *OTHER_TOPICS)),
}


async def start(variant: Variant, containerd: TestContainerd, workdir: Path) -> None:
    """The floor of `variant`: its connection is made with the parts it does not keep
    swapped back for the time of the construction."""
    saved: list[tuple[object, str, Any]] = [(floor_module, "NAMESPACE", floor_module.NAMESPACE)]
    for part, (module, name, replacement) in SWAPS.items():
        if part not in variant.parts:
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
    p.add_argument("--variants", default="base,codec,codec+filter,all")
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
