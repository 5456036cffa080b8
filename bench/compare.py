"""moorage against dockerd 20.10 on one private containerd: RPCs and wall time per operation.

    .venv/bin/python -m bench.compare [-n 20] [--concurrency 20] [--rounds 3] [--out FILE]

(bench/run.sh checks the prerequisites and runs this.) One containerd is started
in a fresh directory under /tmp; dockerd runs on it first, then moorage, never both
at once, so every RPC containerd counts during a daemon's phase is that daemon's.
Each operation runs `-n` times; containerd's own `grpc_server_handled_total`
counters are read before and after (after they settle, so RPCs made on a
container's exit event are counted with the operation that caused the exit) and
the difference is divided by the number of operations. Everything started is
stopped and the directory swept (processes, mounts, files) even on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.engines import REPO, Engine, EngineError, HostFootprint, named
from tests.support.containerd import TestContainerd, parse_prometheus, rpc_name, sweep
from tests.support.images import write_docker_save

IMAGE = "busybox"
SETTLE_QUIET = 0.3  # counters unchanged this long means the operation's RPCs are all in
SETTLE_MAX = 3.0
IDLE_WINDOW = 2.0


# --- containerd's counters -------------------------------------------------------------


def grpc_counts(text: str) -> dict[str, float]:
    """Completed RPCs per "Service.Method"; a non-OK status counts as "Service.Method!Code"."""
    counts: dict[str, float] = {}
    for sample in parse_prometheus(text):
        if sample.name != "grpc_server_handled_total" or not sample.value:
            continue
        key = rpc_name(sample.labels["grpc_service"], sample.labels["grpc_method"])
        code = sample.labels.get("grpc_code", "OK")
        if code != "OK":
            key += f"!{code}"
        counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    diff = {key: after[key] - before.get(key, 0.0) for key in after}
    return {key: value for key, value in sorted(diff.items()) if value}


class Counters:
    def __init__(self, containerd: TestContainerd) -> None:
        self.containerd = containerd

    async def read(self) -> dict[str, float]:
        return grpc_counts(await self.containerd.metrics_text())

    async def settled(self) -> dict[str, float]:
        """The counters once they stopped moving for SETTLE_QUIET (at most SETTLE_MAX)."""
        deadline = time.monotonic() + SETTLE_MAX
        last = await self.read()
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            now = await self.read()
            if now != last:
                last, quiet_since = now, time.monotonic()
            elif time.monotonic() - quiet_since >= SETTLE_QUIET:
                break
        return last


# --- results ---------------------------------------------------------------------------


@dataclass
class Case:
    """One operation measured on one daemon."""

    times: list[float] = field(default_factory=list)  # seconds per operation
    rpcs: dict[str, float] | None = None  # per method, summed over the phase
    ops: int = 0  # operations the RPCs are spread over
    failures: int = 0
    first_error: str = ""

    def rpc_total(self) -> float | None:
        return None if self.rpcs is None or not self.ops else sum(self.rpcs.values()) / self.ops


@dataclass
class EngineRun:
    name: str
    version: str = ""
    driver: str = ""
    cases: dict[str, Case] = field(default_factory=dict)
    extra: dict[str, dict[str, float]] = field(default_factory=dict)  # start-up, load, idle
    extra_time: dict[str, float] = field(default_factory=dict)


class StepFailed(RuntimeError):
    pass


# --- the measurements ------------------------------------------------------------------


class Bench:
    def __init__(self, engine: Engine, counters: Counters, args: argparse.Namespace,
                 workdir: Path) -> None:  # fmt: skip
        self.engine = engine
        self.counters = counters
        self.n: int = args.n
        self.concurrency: int = args.concurrency
        self.rounds: int = args.rounds
        self.cli: str = args.docker
        self.workdir = workdir
        self.run = EngineRun(engine.name)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.env |= {
            "DOCKER_HOST": engine.host,
            "DOCKER_CONFIG": str(workdir / "docker-config"),
            "DOCKER_CLI_HINTS": "false",
        }

    def log(self, message: str) -> None:
        print(f"[{self.engine.name}] {message}", file=sys.stderr, flush=True)

    async def docker(self, *args: str) -> float:
        """One docker CLI call; its wall time. Raises StepFailed on a non-zero exit."""
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            self.cli, *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )  # fmt: skip
        try:
            async with asyncio.timeout(120):
                _, err = await proc.communicate()
        except TimeoutError:
            raise StepFailed(f"docker {' '.join(args)}: no exit after 120 s") from None
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        elapsed = time.perf_counter() - start
        if proc.returncode:
            raise StepFailed(f"docker {' '.join(args)}: exit {proc.returncode}: "
                             f"{err.decode(errors='replace').strip()[:300]}")  # fmt: skip
        return elapsed

    async def phase(self, name: str, count: int, step: Callable[[int], Awaitable[float]],
                    ops_per_step: int = 1) -> Case:  # fmt: skip
        """`count` steps between two counter readings; the RPCs go to `name`."""
        case = self.run.cases.setdefault(name, Case())
        before = await self.counters.settled()
        for index in range(count):
            try:
                case.times.append(await step(index))
            except (StepFailed, EngineError) as exc:
                case.failures += 1
                case.first_error = case.first_error or str(exc)
        after = await self.counters.settled()
        case.rpcs = delta(before, after)
        case.ops = count * ops_per_step
        if case.failures:
            self.log(f"{name}: {case.failures} failed: {case.first_error}")
        return case

    async def api_container(self, name: str, cmd: list[str]) -> str:
        body = {"Image": IMAGE, "Cmd": cmd}
        created = await self.engine.request("POST", "/containers/create", body, name=name)
        return str(created["Id"])

    async def api_run_detached(self, name: str, cmd: list[str]) -> str:
        cid = await self.api_container(name, cmd)
        await self.engine.request("POST", f"/containers/{cid}/start")
        return cid

    async def api_remove(self, cid: str) -> None:
        with contextlib.suppress(EngineError):
            await self.engine.request("DELETE", f"/containers/{cid}", force="1")

    async def extra(self, name: str, action: Callable[[], Awaitable[None]]) -> None:
        """A one-off (start-up, image load, idle window): its RPCs and time, not per-op."""
        before = await self.counters.settled()
        start = time.perf_counter()
        await action()
        self.run.extra_time[name] = time.perf_counter() - start
        self.run.extra[name] = delta(before, await self.counters.settled())

    # -- the cases --

    async def all(self, image_tar: Path) -> EngineRun:
        self.log("starting")
        await self.extra("daemon start-up", self.engine.start)
        await self.extra("idle 2 s", lambda: asyncio.sleep(IDLE_WINDOW))

        async def load() -> None:
            await self.docker("load", "-i", str(image_tar))

        await self.extra("docker load (image)", load)
        version = await self.engine.request("GET", "/version")
        info = await self.engine.request("GET", "/info")
        self.run.version = str(version.get("Version", "?"))
        self.run.driver = str(info.get("Driver", "?"))
        # Warm-up, not counted: the first use of the image and of every code path.
        for _ in range(2):
            await self.docker("run", "--rm", IMAGE, "true")
            cid = await self.api_run_detached("", ["true"])
            await self.engine.request("POST", f"/containers/{cid}/wait")
            await self.api_remove(cid)

        self.log(f"docker run --rm x{self.n}")
        await self.phase("run --rm", self.n,
                         lambda i: self.docker("run", "--rm", IMAGE, "true"))  # fmt: skip
        await self.lifecycle()
        await self.on_target()
        await self.api_cycle()
        await self.throughput()
        self.log("stopping")
        await self.engine.stop()
        return self.run

    async def lifecycle(self) -> None:
        self.log(f"create/start/stop/rm/kill x{self.n}")
        names = [f"bench-{self.engine.name}-{i}" for i in range(self.n)]
        await self.phase("create", self.n,
                         lambda i: self.docker("create", "--name", names[i], IMAGE,
                                               "sleep", "3600"))  # fmt: skip
        await self.phase("start", self.n, lambda i: self.docker("start", names[i]))
        await self.phase("stop -t 0", self.n, lambda i: self.docker("stop", "-t", "0", names[i]))
        await self.phase("rm", self.n, lambda i: self.docker("rm", names[i]))
        # kill needs running containers: set up and torn down through the API, not counted.
        ids = [await self.api_run_detached(f"{name}-k", ["sleep", "3600"]) for name in names]
        try:
            await self.phase("kill", self.n, lambda i: self.docker("kill", ids[i]))
        finally:
            for cid in ids:
                await self.api_remove(cid)

    async def on_target(self) -> None:
        self.log(f"exec/inspect/ps/stats/logs x{self.n}")
        target = f"bench-{self.engine.name}-target"
        cid = await self.api_run_detached(target, ["sh", "-c", "seq 1 100; exec sleep 3600"])
        try:
            await asyncio.sleep(0.5)  # its 100 log lines are written
            await self.phase("exec true", self.n,
                             lambda i: self.docker("exec", target, "true"))  # fmt: skip
            await self.phase("inspect", self.n, lambda i: self.docker("inspect", target))
            await self.phase("ps -a", self.n, lambda i: self.docker("ps", "-a"))
            await self.phase("stats --no-stream", self.n,
                             lambda i: self.docker("stats", "--no-stream", target))  # fmt: skip
            await self.phase("logs (100 lines)", self.n, lambda i: self.docker("logs", target))
        finally:
            await self.api_remove(cid)

    async def api_cycle(self) -> None:
        """create, start, wait, delete over the raw API: no CLI start-up in the times."""
        self.log(f"API create/start/wait/delete x{self.n}")
        steps = ("API create", "API start", "API wait", "API delete")
        for name in steps:
            self.run.cases[name] = Case()

        async def cycle(_: int) -> float:
            clock = time.perf_counter()
            marks = [clock]
            cid = await self.api_container("", ["true"])
            marks.append(time.perf_counter())
            await self.engine.request("POST", f"/containers/{cid}/start")
            marks.append(time.perf_counter())
            await self.engine.request("POST", f"/containers/{cid}/wait")
            marks.append(time.perf_counter())
            await self.engine.request("DELETE", f"/containers/{cid}")
            marks.append(time.perf_counter())
            for index, name in enumerate(steps):
                self.run.cases[name].times.append(marks[index + 1] - marks[index])
            return marks[-1] - marks[0]

        await self.phase("API cycle", self.n, cycle)

    async def throughput(self) -> None:
        c = self.concurrency
        self.log(f"{c} concurrent run --rm x{self.rounds} rounds")
        name = f"{c}x concurrent run --rm"
        case = Case()

        async def round_(_: int) -> float:
            start = time.perf_counter()
            results = await asyncio.gather(
                *(self.docker("run", "--rm", IMAGE, "true") for _ in range(c)),
                return_exceptions=True,
            )
            elapsed = time.perf_counter() - start
            for result in results:
                if isinstance(result, BaseException):
                    if not isinstance(result, StepFailed | EngineError):
                        raise result
                    case.failures += 1
                    case.first_error = case.first_error or str(result)
            return elapsed

        self.run.cases[name] = case
        await self.phase(name, self.rounds, round_, ops_per_step=c)


# --- report ----------------------------------------------------------------------------

ORDER = (
    "run --rm", "create", "start", "stop -t 0", "kill", "rm", "exec true", "inspect", "ps -a",
    "stats --no-stream", "logs (100 lines)", "API create", "API start", "API wait",
    "API delete", "API cycle",
)  # fmt: skip


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f}" if value >= 0.1 else f"{value * 1000:.1f}"


def num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "—"
    if b == 0:
        return "—" if a == 0 else "∞"
    return f"{a / b:.2f}"


def methods(rpcs: Mapping[str, float] | None, ops: int) -> str:
    if rpcs is None or not ops:
        return "—"
    if not rpcs:
        return "0"
    return ", ".join(f"{key} {num(value / ops)}" for key, value in rpcs.items())


def run_count(case: Case | None) -> int:
    """Containers per round of a concurrent case."""
    if case is None or not case.times:
        return 0
    return case.ops // len(case.times) if case.ops else 0


def median(case: Case | None) -> float | None:
    return statistics.median(case.times) if case and case.times else None


def p90(case: Case | None) -> float | None:
    return percentile(case.times, 0.9) if case and case.times else None


def report(runs: dict[str, EngineRun], header: list[str], case_names: list[str]) -> str:
    d, m = runs.get("dockerd", EngineRun("dockerd")), runs.get("moorage", EngineRun("moorage"))
    out = [*header, ""]
    out += [
        "## Per operation",
        "",
        "Times in ms (median / p90 over the repetitions, docker CLI start-up included unless"
        " the row is `API …`); RPCs = containerd gRPC calls per operation. Ratios are"
        " moorage / dockerd: below 1 means moorage is faster or makes fewer calls.",
        "",
        "| operation | dockerd ms | moorage ms | time m/d | dockerd RPCs | moorage RPCs "
        "| RPCs m/d |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in case_names:
        dc, mc = d.cases.get(name), m.cases.get(name)
        fails = sum(c.failures for c in (dc, mc) if c)
        label = name + (f" ({fails} failed)" if fails else "")
        drpc, mrpc = (c.rpc_total() if c else None for c in (dc, mc))
        out.append(
            f"| {label} | {ms(median(dc))} / {ms(p90(dc))} | {ms(median(mc))} / {ms(p90(mc))} "
            f"| {ratio(median(mc), median(dc))} | {num(drpc)} | {num(mrpc)} "
            f"| {ratio(mrpc, drpc)} |"
        )
    for name in case_names:
        if "concurrent" in name:
            rates = []
            for run in (d, m):
                case = run.cases.get(name)
                per_round = run_count(case)
                middle = median(case)
                rate = f"{per_round / middle:.1f}" if per_round and middle else "—"
                rates.append(f"{run.name} {rate}")
            out += ["", f"Throughput ({name}, median round): {', '.join(rates)} containers/s."]
    out += [
        "",
        "`API create/start/wait/delete` are the steps of `API cycle`; their RPCs are counted"
        " on the cycle. The concurrent row's times are per round, its RPCs per container."
        " Only gRPC calls served by containerd are counted (its `grpc_server_handled_total`):"
        " containerd's ttrpc to the shims, and what dockerd does itself (overlay2 mounts,"
        " networking), do not show.",
        "",
        "## containerd RPCs by method, per operation",
        "",
        "`X!Code` counts calls that ended with that gRPC status instead of OK.",
        "",
        "| operation | dockerd | moorage |",
        "|---|---|---|",
    ]
    for name in case_names:
        dc, mc = d.cases.get(name), m.cases.get(name)
        if (dc is None or dc.rpcs is None) and (mc is None or mc.rpcs is None):
            continue
        out.append(
            f"| {name} | {methods(dc.rpcs, dc.ops) if dc else '—'} "
            f"| {methods(mc.rpcs, mc.ops) if mc else '—'} |"
        )
    out += ["", "## One-offs (total RPCs, time)", "", "| event | dockerd | moorage |",
            "|---|---|---|"]  # fmt: skip
    for name in ("daemon start-up", "idle 2 s", "docker load (image)"):
        cells = []
        for run in (d, m):
            if name not in run.extra:
                cells.append("—")
                continue
            total = sum(run.extra[name].values())
            cells.append(f"{num(total)} in {ms(run.extra_time[name])} ms: "
                         f"{methods(run.extra[name], 1)}")  # fmt: skip
        out.append(f"| {name} | {cells[0]} | {cells[1]} |")
    errors = [
        f"- {run.name} {name}: {case.first_error}"
        for run in (d, m)
        for name, case in run.cases.items()
        if case.failures
    ]
    if errors:
        out += ["", "## Failures (first error of each)", "", *errors]
    return "\n".join(out) + "\n"


def command_output(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"? ({exc})"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def machine_header(args: argparse.Namespace, runs: dict[str, EngineRun]) -> list[str]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cgroup = "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"
    git = command_output("git", "-C", str(REPO), "describe", "--always", "--dirty")
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    d, m = runs.get("dockerd"), runs.get("moorage")
    return [
        "# moorage vs dockerd: containerd RPCs and wall time",
        "",
        f"Run {now} by `bench/run.sh` (see bench/README.md for how to read this).",
        "",
        f"- machine: {os.cpu_count()} cores ({model}), {platform.release()}, cgroup {cgroup},"
        f" load average at start {args.load_at_start}",
        f"- dockerd: {command_output(args.dockerd, '--version')}"
        + (f", storage driver {d.driver}" if d else ""),
        f"- moorage: {m.version if m else '?'} (git {git}), Python {platform.python_version()}",
        f"- containerd: {command_output('containerd', '--version')}",
        f"- runc: {command_output('runc', '--version')}",
        f"- docker CLI (client for both): {command_output(args.docker, '--version')}",
        f"- repetitions: {args.n} per operation; {args.concurrency} concurrent `docker run"
        f" --rm` x {args.rounds} rounds; daemons run one after the other on the same"
        " containerd (namespaces bench-dockerd, bench-moorage)",
    ]


# --- main ------------------------------------------------------------------------------


async def bench_all(args: argparse.Namespace) -> dict[str, EngineRun]:
    footprint = HostFootprint()
    workdir = Path(tempfile.mkdtemp(prefix="moorage-bench-"))
    runs: dict[str, EngineRun] = {}
    containerd = TestContainerd(workdir / "containerd", namespace="bench-moorage")
    engine: Engine | None = None
    try:
        await containerd.start()
        image_tar = workdir / "busybox.tar"
        write_docker_save(image_tar)
        counters = Counters(containerd)
        for name in args.daemons:
            engine = named(name, workdir, containerd.address, args.dockerd)
            bench = Bench(engine, counters, args, workdir)
            try:
                runs[name] = await bench.all(image_tar)
            finally:
                await engine.stop()
    finally:
        if args.logs:
            logs = [workdir / "dockerd.log", workdir / "moorage.log", containerd.log_path]
            await asyncio.to_thread(keep_logs, logs, Path(args.logs))
        with contextlib.suppress(Exception):
            await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))
        footprint.restore()
    return runs


def keep_logs(logs: list[Path], keep: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    for log in logs:
        if log.exists():
            shutil.copy(log, keep / log.name)


def default_cli() -> str:
    return "/usr/local/bin/docker" if os.access("/usr/local/bin/docker", os.X_OK) else "docker"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n")[0] if __doc__
                                else None)  # fmt: skip
    p.add_argument("-n", type=int, default=20, help="repetitions per operation (default 20)")
    p.add_argument("--concurrency", type=int, default=20, help="concurrent runs (default 20)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of concurrent runs (default 3)")
    p.add_argument("--daemons", default="dockerd,moorage",
                   help="which to run, in order (default dockerd,moorage)")  # fmt: skip
    p.add_argument("--docker", default=default_cli(), help="the docker CLI used for both")
    p.add_argument("--dockerd", default="dockerd", help="the dockerd 20.10 binary")
    p.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    p.add_argument("--logs", default="", help="copy the daemons' and containerd's logs here")
    args = p.parse_args(argv)
    args.daemons = [name.strip() for name in args.daemons.split(",") if name.strip()]
    unknown = set(args.daemons) - {"dockerd", "moorage"}
    if unknown or args.n < 1 or args.concurrency < 1 or args.rounds < 1:
        p.error(f"bad arguments: {', '.join(sorted(unknown)) or 'counts must be >= 1'}")
    return args


async def main_async(args: argparse.Namespace) -> str:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    # SIGTERM and SIGHUP clean up like Ctrl-C does: cancel, then the finally blocks run.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, task.cancel)
    started = time.monotonic()
    runs = await bench_all(args)
    case_names = [name for name in ORDER if any(name in run.cases for run in runs.values())]
    case_names += sorted({name for run in runs.values() for name in run.cases} - set(ORDER))
    text = report(runs, machine_header(args, runs), case_names)
    return text + f"\nTotal benchmark time: {time.monotonic() - started:.0f} s.\n"


def main(argv: list[str] | None = None) -> int:
    if os.geteuid() != 0:
        print("bench: must run as root (containerd, dockerd, runc)", file=sys.stderr)
        return 2
    args = parse_args(argv)
    args.load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        text = asyncio.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench: interrupted; everything it started was stopped", file=sys.stderr)
        return 130
    Path(args.out).write_text(text)
    print(text)
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
