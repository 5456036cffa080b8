"""What seccomp costs at start: mooraged's default profile against dockerd 20.10's spec.

    .venv/bin/python -m bench.seccomp_cost [-n 15] [--rounds 2] [--out FILE] [--smoke]

Issue 12's target: start p50 of mooraged with its default seccomp profile within
1.15x of the floor client starting containers with the spec dockerd itself
generates (which carries Docker's profile). On one private containerd (as
bench/lifecycle.py, whose lifecycle, batches and tallies this reuses):

- `moorage`: mooraged, the default profile;
- `moorage-unconfined`: the same mooraged, `SecurityOpt: ["seccomp=unconfined"]`;
- `floor-dockerd`: bench/floor.py with dockerd's own spec: dockerd (`--bridge none`
  etc.) creates and starts one busybox container, its OCI spec is read back from
  containerd's container record (`ctr containers info`), and every floor container
  gets a copy of it;
- `floor-dockerd-unconfined`: that spec without `linux.seccomp`;
- `floor`: the floor with mooraged's own spec (its profile included), for reference.

The copy keeps dockerd's spec but for what belongs to one container: the root
(the floor's snapshot), the hostname, the cgroup path, the mounts whose sources are
dockerd's own files (`/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`, `/dev/shm`
come from the floor's spec instead) and the hooks (dockerd's libnetwork-setkey
prestart hook calls back into dockerd for its own container; the floor has no
networking to set up). dockerd is stopped once the spec is read, so it costs nothing
during the measurement. Contenders take turns, the order rotating every round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.api_latency import load_image
from bench.compare import command_output, percentile
from bench.engines import REPO, HostFootprint, dockerd, moorage, run_report
from bench.floor import Floor, SpecEdit
from bench.lifecycle import (
    CMD,
    WARMUP,
    Contender,
    Tally,
    batch,
    engine_contender,
    http_lifecycle,
)
from tests.support.containerd import TestContainerd, sweep
from tests.support.images import write_docker_save
from tests.support.seccomp import differences, normalized, size

TARGET = 1.15
UNCONFINED = {"SecurityOpt": ["seccomp=unconfined"]}


async def dockerd_specs(
    containerd: TestContainerd,
    workdir: Path,
    archive: Path,
    host_configs: Sequence[Mapping[str, Any]] = ({},),
) -> list[dict[str, Any]]:
    """The OCI specs dockerd 20.10 generates for `{"Image": "busybox", "Cmd": CMD}` with each
    of `host_configs`, as containerd's container record holds them (dockerd makes the
    record at start). One dockerd (`--bridge none` etc.) for all, stopped at the end.
    tests/integration/daemon/test_seccomp_parity.py compares mooraged's with them."""
    engine = dockerd(workdir, containerd.address)
    await engine.start()
    try:
        await load_image(engine, archive)
        specs = []
        for host_config in host_configs:
            body = {"Image": "busybox", "Cmd": CMD, "HostConfig": host_config}
            cid = (await engine.request("POST", "/containers/create", body))["Id"]
            try:
                await engine.request("POST", f"/containers/{cid}/start")
                info = await containerd.ctr("containers", "info", cid, namespace="bench-dockerd")
                specs.append(json.loads(info.stdout)["Spec"])
            finally:
                await engine.request("DELETE", f"/containers/{cid}", force="1")
        return specs
    finally:
        await engine.stop()


def from_dockerd(template: dict[str, Any], *, seccomp: bool) -> SpecEdit:
    """A SpecEdit giving dockerd's spec with this container's own parts (module doc)."""
    own = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/dev/shm")

    def edit(ours: dict[str, Any]) -> dict[str, Any]:
        spec = copy.deepcopy(template)
        spec["root"] = ours["root"]
        spec["hostname"] = ours.get("hostname", "")
        spec["process"]["args"] = ours["process"]["args"]
        spec.pop("hooks", None)
        spec["linux"]["cgroupsPath"] = ours["linux"]["cgroupsPath"]
        spec["mounts"] = [m for m in spec["mounts"] if m["destination"] not in own] + [
            m for m in ours["mounts"] if m["destination"] in own
        ]
        if not seccomp:
            spec["linux"].pop("seccomp", None)
        return spec

    return edit


def seccomp_of(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    section: Mapping[str, Any] | None = spec.get("linux", {}).get("seccomp")
    return section


def observe(sections: dict[str, Mapping[str, Any] | None], name: str) -> SpecEdit:
    """A SpecEdit that changes nothing and notes the spec's seccomp section."""

    def edit(spec: dict[str, Any]) -> dict[str, Any]:
        sections[name] = seccomp_of(spec)
        return spec

    return edit


def floor_with(name: str, floor: Floor, edit: SpecEdit | None) -> Contender:
    return Contender(name, os.getpid, lambda marks: floor.lifecycle(CMD, marks, edit))


# --- report ------------------------------------------------------------------------------


def p50(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def seccomp_lines(sections: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    """Both specs' seccomp sections: their sizes as written, and whether they do the same."""
    out = ["- linux.seccomp: " + "; ".join(f"{k}'s spec {size(v)}" for k, v in sections.items())]
    if len(sections) == 2:
        (first, a), (second, b) = sections.items()
        found = differences(normalized(a), normalized(b), (first, second))
        out.append(
            "- the two sections' effect (tests/support/seccomp.py): "
            + (f"{len(found)} differences: " + "; ".join(found) if found else "the same")
        )
    return out


def report(
    tallies: dict[str, Tally],
    args: argparse.Namespace,
    sections: Mapping[str, Mapping[str, Any] | None],
) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    git = command_output("git", "-C", str(REPO), "describe", "--always", "--dirty")
    names = list(tallies)
    out = [
        "## Seccomp at start: mooraged's default profile against dockerd's spec",
        "",
        f"Run {now} by `bench/seccomp_cost.sh {' '.join(args.argv)}`.",
        "",
        f"- machine: {os.cpu_count()} cores, {platform.release()}, load average at start"
        f" {args.load_at_start}, at the end {args.load_at_end}",
        f"- moorage git {git}; dockerd: {command_output('dockerd', '--version')};"
        f" containerd: {command_output('containerd', '--version')}",
        f"- {args.n} lifecycles per contender per round, {args.rounds} rounds, K=1, order rotating",
        *seccomp_lines(sections),
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]

    def row(label: str, cell: Any) -> None:
        out.append(f"| {label} | " + " | ".join(cell(tallies[n]) for n in names) + " |")

    def msf(value: float | None) -> str:
        return "—" if value is None else f"{value * 1000:.1f}"

    row("lifecycles (failed)", lambda t: f"{t.lifecycles} ({t.failures})")
    row("start p50 ms", lambda t: msf(p50(t.steps["start"])))
    row(
        "start p90 ms",
        lambda t: msf(percentile(t.steps["start"], 0.9) if t.steps["start"] else None),
    )
    row("create p50 ms", lambda t: msf(p50(t.steps["create"])))
    row("whole lifecycle p50 ms", lambda t: msf(p50(t.total)))
    out.append("")
    for name, tally in tallies.items():
        if tally.failures:
            out.append(f"- {name}: {tally.failures} failed, first: {tally.first_error}")
    start = {n: p50(t.steps["start"]) for n, t in tallies.items()}

    def ratio(a: str, b: str) -> float | None:
        x, y = start.get(a), start.get(b)
        return None if x is None or not y else x / y

    def cost(a: str, b: str) -> str:
        x, y = start.get(a), start.get(b)
        return "—" if x is None or y is None else f"{(x - y) * 1000:+.1f} ms"

    lines = [
        ("moorage / floor-dockerd (the target)", ratio("moorage", "floor-dockerd")),
        ("moorage-unconfined / floor-dockerd-unconfined", ratio("moorage-unconfined",
                                                                 "floor-dockerd-unconfined")),
        ("floor (mooraged's spec) / floor-dockerd", ratio("floor", "floor-dockerd")),
    ]  # fmt: skip
    out += ["Start p50 ratios:", ""]
    out += [f"- {label}: {'—' if r is None else f'{r:.2f}x'}" for label, r in lines]
    out += [
        f"- seccomp's cost at start, mooraged: {cost('moorage', 'moorage-unconfined')};"
        f" the floor with dockerd's spec: {cost('floor-dockerd', 'floor-dockerd-unconfined')}",
        "",
    ]
    target = lines[0][1]
    verdict = "—" if target is None else ("met" if target <= TARGET else "NOT met")
    out.append(f"Target (issue 12): moorage start p50 ≤ {TARGET}x floor-dockerd's: {verdict}")
    return "\n".join(out)


# --- main --------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> str:
    footprint = HostFootprint()
    workdir = Path(tempfile.mkdtemp(prefix="moorage-seccomp-"))
    containerd = TestContainerd(workdir / "containerd", namespace="bench-moorage")
    engine = None
    floor: Floor | None = None
    try:
        await containerd.start()
        containerd_pid = containerd.supervisor.pid
        assert containerd_pid is not None
        archive = workdir / "busybox.tar"
        write_docker_save(archive)
        (spec,) = await dockerd_specs(containerd, workdir, archive)
        sections = {"dockerd": seccomp_of(spec)}
        engine = moorage(workdir, containerd.address)
        await engine.start()
        await load_image(engine, archive)
        floor = Floor(containerd, workdir / "floor")
        await floor.start()
        confined = engine_contender(engine)
        unconfined = Contender(
            "moorage-unconfined",
            confined.pid,
            lambda marks: http_lifecycle(engine, marks, UNCONFINED),
        )
        contenders = [
            confined,
            unconfined,
            floor_with("floor-dockerd", floor, from_dockerd(spec, seccomp=True)),
            floor_with("floor-dockerd-unconfined", floor, from_dockerd(spec, seccomp=False)),
            floor_with("floor", floor, observe(sections, "mooraged")),
        ]
        for contender in contenders:  # first use of every code path, not counted
            await batch(contender, WARMUP, 1, Tally(), containerd_pid)
        tallies = {c.name: Tally() for c in contenders}
        for round_ in range(args.rounds):
            shift = round_ % len(contenders)
            for contender in contenders[shift:] + contenders[:shift]:
                print(f"round {round_ + 1}: {contender.name}", file=sys.stderr)
                await batch(contender, args.n, 1, tallies[contender.name], containerd_pid)
        args.load_at_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
        return report(tallies, args, sections)
    finally:
        if engine is not None:
            with contextlib.suppress(Exception):
                await engine.stop()
        if floor is not None:
            with contextlib.suppress(Exception):
                await floor.close()
        with contextlib.suppress(Exception):
            await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
        footprint.restore()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.seccomp_cost", description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=15, help="lifecycles per contender per round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default="", help="also write the report here")
    p.add_argument("--smoke", action="store_true", help="tiny: a check that it still runs")
    args = p.parse_args(argv)
    args.argv = argv
    if args.smoke:
        args.n, args.rounds = 1, 1
    if args.n < 1 or args.rounds < 1:
        p.error("-n and --rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_report("bench.seccomp_cost", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
