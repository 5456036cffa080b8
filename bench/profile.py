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


async def run(args: argparse.Namespace) -> str:
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
            args.py_spy, "record", "--pid", str(contender.pid()), "--rate", str(args.rate),
            "--format", "raw", "--output", args.out, "--nonblocking",
            # Only the thread holding the GIL: Python's CPU, not time blocked in fsync & co.
            *(["--gil"] if args.gil else []),
            # Wall time: where a request waits (fsync, the loop busy elsewhere), not only CPU.
            *(["--idle"] if args.idle else []),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await asyncio.sleep(1.0)  # py-spy attached
        tally = Tally()
        if ids:
            for index in range(args.n):
                await engine.request("GET", "/containers/json")
                await engine.request("GET", f"/containers/{ids[index % len(ids)]}/json")
        else:
            await batch(contender, args.n, args.k, tally, containerd_pid)
        spy.send_signal(signal.SIGINT)
        _, err = await spy.communicate()
        if spy.returncode not in (0, -signal.SIGINT):
            raise RuntimeError(f"py-spy: exit {spy.returncode}: {err.decode()[-500:]}")
        cpu = tally.cpu.own / max(tally.lifecycles, 1)
        head = (
            f"{tally.lifecycles} lifecycles, {cpu:.4f} {contender.name} CPU s each (under py-spy)"
        )
        return head + "\n" + summarize(await asyncio.to_thread(Path(args.out).read_text), args.top)
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
