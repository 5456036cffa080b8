"""Where mooraged's CPU goes under the K=8 lifecycle load: py-spy on the daemon.

    .venv/bin/pip install py-spy      # from the local mirror; a tool, not a dependency
    .venv/bin/python -m bench.profile [-n 160] [-k 8] [--rate 200] [--out /tmp/moorage.folded]

Starts one private containerd and mooraged (as bench/lifecycle.py does), loads busybox,
runs `-n` lifecycles `-k` at a time (or, with `--scale N`, `-n` list and inspect requests
with N containers running) while `py-spy record --format raw` samples the
daemon (idle time left out), and prints the functions with the most samples: on their
own (self) and with what they call (total), as a share of all samples. The folded
stacks are kept in `--out` for flame graphs (e.g. speedscope).

With `--floor`, the same for the floor (bench/floor.py): the lifecycles run straight on
libcontainerd in this process, and py-spy samples this process, so what it shows is
the containerd client stack's own cost (plus the floor's spec building).

With `--strace`, `strace -c -f` counts the process's system calls instead, and they are
printed per lifecycle (strace slows the process down: its counts are what to read, not
its times); `--strace-log` keeps the whole trace (`-f -y`: every call with the paths of its
fds) in `--out` instead, to see which files the calls touch. With `--perf`, `perf record`
samples the CPU (user and kernel) instead, and the report is the share of each library
(the interpreter, grpcio's core, uvloop, the kernel...): where Python's profile cannot
see. Either way the process's CPU seconds per lifecycle are split into user and system
(from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import procstat
from bench.api_latency import load_image
from bench.engines import Engine, moorage
from bench.floor import Floor
from bench.lifecycle import CMD, Contender, Tally, batch, engine_contender, floor_contender
from tests.support.containerd import TestContainerd, sweep
from tests.support.images import write_docker_save


def summarize(folded: str, top: int) -> str:
    """Self and total sample shares per function from py-spy's folded stacks."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in folded.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        samples += count
        frames = [f.split(" (")[0] + " " + _where(f) for f in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    lines = [f"{samples} samples"]
    for title, counter in (("self", own), ("total", total)):
        lines += ["", f"top {top} by {title}:"]
        for frame, count in counter.most_common(top):
            lines.append(f"{100 * count / max(samples, 1):5.1f}%  {frame}")
    return "\n".join(lines)


def strace_summary(table: str, lifecycles: int) -> str:
    """`strace -c`'s table as calls (and failed calls) per lifecycle, most first."""
    rows: list[tuple[float, float, str]] = []
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[0][0].isdigit() or fields[-1] == "total":
            continue
        calls = int(fields[3])
        errors = int(fields[4]) if len(fields) == 6 else 0
        rows.append((calls / max(lifecycles, 1), errors / max(lifecycles, 1), fields[-1]))
    rows.sort(reverse=True)
    total = sum(calls for calls, _, _ in rows)
    lines = [f"{total:.1f} system calls per lifecycle", "calls (failed) per lifecycle:"]
    lines += [f"{calls:8.2f} ({errors:5.2f})  {name}" for calls, errors, name in rows]
    return "\n".join(lines)


async def perf_report(args: argparse.Namespace) -> str:
    """Shares of the samples by library (dso), the top symbols, and the kernel's time by
    the system call it was spent in (with what it called: the callchains)."""
    parts = []
    for sort, children, keep in (
        ("dso", "--no-children", ""),
        ("dso,sym", "--no-children", ""),
        ("sym", "--children", "_sys_"),
    ):
        report = await asyncio.create_subprocess_exec(
            args.perf_binary, "report", "-i", args.out, "--stdio", "--sort", sort, children,
            "-g", "none", "--percent-limit", "0.5",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await report.communicate()
        lines = [ln for ln in out.decode().splitlines() if ln.strip() and ln[0] != "#"]
        parts.append("\n".join(ln for ln in lines if keep in ln))
    return "\n\n".join(parts)


def _where(frame: str) -> str:
    """`file.py` of a py-spy frame `name (path/file.py:line)`, without the line."""
    _, _, location = frame.partition(" (")
    path = location.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    return "/".join(parts[-2:])


async def run_detached(engine: Engine) -> str:
    cid = str(
        (await engine.request("POST", "/containers/create", {"Image": "busybox", "Cmd": CMD}))["Id"]
    )
    await engine.request("POST", f"/containers/{cid}/start")
    return cid


def tool_name(args: argparse.Namespace) -> str:
    return "strace" if args.strace or args.strace_log else "perf" if args.perf else "py-spy"


def tool_argv(args: argparse.Namespace, pid: int) -> list[str]:
    """py-spy, strace or perf, attached to `pid` (every thread of it)."""
    if args.perf:
        return [
            args.perf_binary,
            "record",
            "-g",
            "-F",
            str(args.rate),
            "-p",
            str(pid),
            "-o",
            args.out,
        ]
    if args.strace or args.strace_log:
        what = ["-c"] if args.strace else ["-y", "-s", "0"]
        return [args.strace_binary, "-f", *what, "-o", args.out, "-p", str(pid)]
    return [
        args.py_spy, "record", "--pid", str(pid), "--rate", str(args.rate),
        "--format", "raw", "--output", args.out,
        # Native stacks need the process stopped while they are read.
        *([] if args.native else ["--nonblocking"]),
        # Only the thread holding the GIL: Python's CPU, not time blocked in fsync & co.
        *(["--gil"] if args.gil else []),
        # Wall time: where a request waits (fsync, the loop busy elsewhere), not only CPU.
        *(["--idle"] if args.idle else []),
        # C frames too (the interpreter, uvloop, the kernel calls' wrappers).
        *(["--native"] if args.native else []),
    ]  # fmt: skip


async def run(args: argparse.Namespace) -> str:
    spy_name = tool_name(args)
    workdir = Path(tempfile.mkdtemp(prefix="moorage-profile-"))
    containerd = TestContainerd(workdir / "containerd", namespace="bench-moorage")
    engine = moorage(workdir, containerd.address)
    floor: Floor | None = None
    spy: asyncio.subprocess.Process | None = None
    try:
        await containerd.start()
        containerd_pid = containerd.supervisor.pid
        assert containerd_pid is not None
        contender: Contender
        if args.floor:
            floor = Floor(containerd, workdir / "floor")
            await floor.start()
            contender = floor_contender(floor)
        else:
            archive = workdir / "busybox.tar"
            write_docker_save(archive)
            await engine.start()
            await load_image(engine, archive)
            contender = engine_contender(engine)
        await batch(contender, 4, 1, Tally(), containerd_pid)  # warm-up
        ids = [await run_detached(engine) for _ in range(args.scale)]
        spy = await asyncio.create_subprocess_exec(
            *tool_argv(args, contender.pid()),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await asyncio.sleep(1.0)  # py-spy (strace) attached
        before = procstat.cpu(contender.pid())
        tally = Tally()
        if ids:
            for index in range(args.n):
                await engine.request("GET", "/containers/json")
                await engine.request("GET", f"/containers/{ids[index % len(ids)]}/json")
        else:
            await batch(contender, args.n, args.k, tally, containerd_pid)
        spent = procstat.cpu(contender.pid()) - before
        with contextlib.suppress(ProcessLookupError):  # it failed: its exit status says why
            spy.send_signal(signal.SIGINT)
        _, err = await spy.communicate()
        if spy.returncode not in (0, -signal.SIGINT):
            raise RuntimeError(f"{spy_name}: exit {spy.returncode}: {err.decode()[-500:]}")
        count = max(tally.lifecycles or args.n, 1)
        head = (
            f"{tally.lifecycles} lifecycles, {contender.name} CPU s each (under {spy_name}):"
            f" {spent.own / count:.4f}, user {spent.user / count:.4f},"
            f" system {spent.system / count:.4f}"
        )
        if args.strace_log:
            return head + f"\ntrace in {args.out}"
        if args.perf:
            return head + "\n" + await perf_report(args)
        output = await asyncio.to_thread(Path(args.out).read_text)
        if args.strace:
            return head + "\n" + strace_summary(output, count)
        return head + "\n" + summarize(output, args.top)
    finally:
        if spy is not None and spy.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                spy.kill()
            await spy.wait()
        await engine.stop()
        if floor is not None:
            with contextlib.suppress(Exception):
                await floor.close()
        with contextlib.suppress(Exception):
            await containerd.close()
        await asyncio.to_thread(sweep, str(workdir))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.profile", description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=160, help="lifecycles under the profiler")
    p.add_argument("-k", type=int, default=8, help="lifecycles at a time")
    p.add_argument("--rate", type=int, default=200, help="samples per second")
    p.add_argument("--top", type=int, default=40)
    p.add_argument(
        "--scale",
        type=int,
        default=0,
        help="instead: N running containers, then -n list and inspect requests",
    )
    p.add_argument(
        "--floor",
        action="store_true",
        help="profile the floor (libcontainerd in this process) instead of mooraged",
    )
    p.add_argument(
        "--all-threads",
        dest="gil",
        action="store_false",
        help="sample every running thread, not only the one holding the GIL",
    )
    p.add_argument(
        "--idle",
        action="store_true",
        help="also sample threads that wait (wall time; use with --all-threads)",
    )
    p.add_argument("--native", action="store_true", help="py-spy: C frames too")
    p.add_argument(
        "--strace", action="store_true", help="count system calls per lifecycle (strace -c)"
    )
    p.add_argument(
        "--strace-log", action="store_true", help="the whole strace trace (with fd paths) to --out"
    )
    p.add_argument("--strace-binary", default=shutil.which("strace") or "strace")
    p.add_argument(
        "--perf", action="store_true", help="perf record: CPU by library, kernel included"
    )
    p.add_argument("--perf-binary", default=shutil.which("perf") or "perf")
    p.add_argument("--out", default="/tmp/moorage.folded")
    p.add_argument("--py-spy", default=shutil.which("py-spy") or f"{sys.prefix}/bin/py-spy")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.profile: must run as root", file=sys.stderr)
        return 2
    print(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
