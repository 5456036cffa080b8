"""One daemon, many mixed operations, several at once: it ends as it started.

The mix is what a busy user does with the real docker CLI: `run --rm`, `exec -i`
with piped stdin, `exec -t` under a terminal, `logs -f` and `attach` cut off
mid-stream (the client killed), `top`, one-shot `stats`, an exec that cannot start,
run/kill/wait/rm, and a few raw API calls. Every operation checks its output. At
the end the daemon (in this process) has logged no warning or error, and holds as
many fds and asyncio tasks as after the warm-up (within SLACK).

MOORAGE_SOAK_OPS sets the number of operations (1,000 by default; the long mode is
`scripts/soak.sh 10000`). Figures are printed at the end (see them with `-s`).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from tests.support.daemon import RunningDaemon, docker_env
from tests.support.resources import (
    back_to,
    described,
    fd_count,
    logged_warnings,
    rss_bytes,
    settled,
    task_count,
)
from tests.support.terminal import docker_tty

OPS = int(os.environ.get("MOORAGE_SOAK_OPS", "1000"))
# Several at once, few enough for 2 cores: the CLI's own start-up is most of the cost.
CONCURRENCY = 6
# How far the fd and task counts may end from where they started.
SLACK = 5
OP_TIMEOUT = 60.0
HOST = "soak-host"
TICKER = "soak-ticker"
TICK_SCRIPT = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"


@dataclass
class Soak:
    daemon: RunningDaemon
    host_id: str
    ticker_id: str


Op = Callable[[Soak, int], Awaitable[None]]


async def run_rm(s: Soak, n: int) -> None:
    out = await s.daemon.docker_ok("run", "--rm", "busybox", "echo", f"ran {n}")
    assert out == f"ran {n}\n", out


async def exec_piped(s: Soak, n: int) -> None:
    # Now and then more than a pipe holds, so that stdin waits for room.
    payload = (f"line {n}\n" * (1 if n % 5 else 20_000)).encode()
    try:
        code, out, err = await s.daemon.docker(
            "exec", "-i", HOST, "cat", stdin=payload, timeout=OP_TIMEOUT - 15
        )
    except TimeoutError:
        # Say where it stopped: whether the process still runs, and what it waits on.
        raise AssertionError(f"exec -i hung; execs not over:\n{_unfinished_execs(s)}") from None
    assert code == 0, err
    assert out.encode() == payload, (len(out), len(payload))


def _unfinished_execs(s: Soak) -> str:
    """The soak host's execs without an exit code, as the daemon (in this process) and
    the kernel see them."""
    live = s.daemon.services.daemon.find(s.host_id)
    if live is None:
        return "(the host container is gone)"
    lines = []
    for record in list(live.execs.values()):
        if record.exit_code is not None:
            continue
        proc = f"/proc/{record.pid}"
        try:
            with open(f"{proc}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
            with open(f"{proc}/wchan") as wchan:
                state += f" wchan={wchan.read()} stdin={os.readlink(f'{proc}/fd/0')}"
        except OSError as exc:
            state = f"no process ({exc.strerror})"
        lines.append(
            f"{record.id[:12]} {record.config.get('Cmd')} pid={record.pid} "
            f"running={record.running} output_open={record.hub.running} process: {state}"
        )
    return "\n".join(lines) or "(none)"


async def exec_tty(s: Soak, n: int) -> None:
    code, out = await docker_tty(s.daemon, "exec", "-t", HOST, "sh", "-c", f"tty; echo tty {n}")
    assert code == 0, out
    assert b"/dev/pts/" in out and f"tty {n}\r".encode() in out, out


async def exec_unstartable(s: Soak, n: int) -> None:
    code, out, err = await s.daemon.docker("exec", HOST, f"no-such-binary-{n}")
    assert code == 126, (out, err)
    assert f"no-such-binary-{n}" in out + err


async def logs_follow_cut(s: Soak, n: int) -> None:
    await _cut_off_mid_stream(s.daemon, "logs", "-f", "--tail", "1", TICKER)


async def attach_cut(s: Soak, n: int) -> None:
    await _cut_off_mid_stream(s.daemon, "attach", "--no-stdin", "--sig-proxy=false", TICKER)


async def top(s: Soak, n: int) -> None:
    out = await s.daemon.docker_ok("top", HOST)
    assert "sleep" in out, out


async def stats_once(s: Soak, n: int) -> None:
    out = await s.daemon.docker_ok(
        "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", HOST, TICKER
    )
    names = sorted(line.split()[0] for line in out.splitlines())
    assert names == sorted([HOST, TICKER]), out


async def run_kill_rm(s: Soak, n: int) -> None:
    name = f"soak-victim-{n}"
    cid = (await s.daemon.docker_ok("run", "-d", "--name", name, "busybox", "sleep", "300")).strip()
    assert (await s.daemon.docker_ok("kill", name)).strip() == name
    assert (await s.daemon.docker_ok("wait", name)).strip() == "137"
    assert (await s.daemon.docker_ok("rm", name)).strip() == name
    status, _ = await s.daemon.request("GET", f"/containers/{cid}/json")
    assert status == 404


async def api_calls(s: Soak, n: int) -> None:
    # Cheap calls over the socket, between the CLI's heavier ones.
    status, body = await s.daemon.request("GET", f"/containers/{s.host_id}/json")
    assert status == 200 and body["State"]["Running"] is True, body
    status, body = await s.daemon.request("GET", f"/containers/{s.host_id}/top")
    assert status == 200 and any("sleep" in " ".join(p) for p in body["Processes"]), body
    status, body = await s.daemon.request("GET", "/containers/json", filters='{"name":["soak-"]}')
    assert status == 200 and {HOST, TICKER} <= {c["Names"][0][1:] for c in body}, body


# How often each operation comes up, out of 20.
MIX: list[tuple[Op, int]] = [
    (run_rm, 2),
    (exec_piped, 4),
    (exec_tty, 2),
    (exec_unstartable, 1),
    (logs_follow_cut, 2),
    (attach_cut, 2),
    (top, 2),
    (stats_once, 1),
    (run_kill_rm, 1),
    (api_calls, 3),
]


async def _cut_off_mid_stream(daemon: RunningDaemon, *args: str) -> None:
    """Start a streaming CLI command, see a tick come through, then kill the client."""
    proc = await asyncio.create_subprocess_exec(
        "docker",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=docker_env(daemon.host),
    )
    assert proc.stdout is not None
    try:
        line = await proc.stdout.readline()
        assert line.startswith(b"tick "), line
        # And it keeps streaming: a second, later tick.
        line = await proc.stdout.readline()
        assert line.startswith(b"tick "), line
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.communicate()


def _schedule(count: int) -> list[Op]:
    pool = [op for op, weight in MIX for _ in range(weight)]
    rng = random.Random(7)
    return [pool[rng.randrange(len(pool))] for _ in range(count)]


async def _run_all(soak: Soak, ops: list[Op]) -> list[str]:
    failures: list[str] = []
    queue = list(enumerate(ops))
    queue.reverse()

    async def worker() -> None:
        while queue:
            n, op = queue.pop()
            try:
                async with asyncio.timeout(OP_TIMEOUT):
                    await op(soak, n)
            except (AssertionError, TimeoutError) as exc:
                failures.append(f"{n} {op.__name__}: {type(exc).__name__} {exc}")

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return failures


async def _resources() -> tuple[int, int]:
    return await settled(fd_count), await settled(task_count)


# The suite's 300 s covers the default 1,000 operations (about 50 s here); the long
# mode gets time in proportion.
@pytest.mark.timeout(max(300, OPS * 0.3))
async def test_soak_mixed_operations(daemon: RunningDaemon) -> None:
    host_id = (
        await daemon.docker_ok("run", "-d", "--name", HOST, "busybox", "sleep", "1d")
    ).strip()
    ticker_id = (
        await daemon.docker_ok("run", "-d", "--name", TICKER, "busybox", "sh", "-c", TICK_SCRIPT)
    ).strip()
    soak = Soak(daemon, host_id, ticker_id)
    try:
        # Warm-up: every kind once, so that lazily made things (connections, caches)
        # exist before the baseline is taken.
        assert await _run_all(soak, [op for op, _ in MIX]) == []
        fds_start, tasks_start = await _resources()
        rss_start = rss_bytes()
        ops = _schedule(OPS)
        with logged_warnings() as warnings:
            began = time.monotonic()
            failures = await _run_all(soak, ops)
            elapsed = time.monotonic() - began
            fds_end = await back_to(fd_count, fds_start)
            tasks_end = await back_to(task_count, tasks_start)
        rss_end = rss_bytes()
        kinds = Counter(op.__name__ for op in ops)
        print(
            f"\nsoak: {len(ops)} ops in {elapsed:.1f}s ({len(ops) / elapsed:.1f} ops/s), "
            f"concurrency {CONCURRENCY}\n"
            f"soak: fds {fds_start} -> {fds_end}, tasks {tasks_start} -> {tasks_end}, "
            f"RSS {rss_start / 2**20:.1f} MiB -> {rss_end / 2**20:.1f} MiB\n"
            f"soak: mix {dict(sorted(kinds.items()))}"
        )
        assert failures == [], failures[:10]
        assert described(warnings) == []
        assert abs(fds_end - fds_start) <= SLACK, (fds_start, fds_end)
        assert abs(tasks_end - tasks_start) <= SLACK, (tasks_start, tasks_end)
        # Both long-lived containers went through it all still running.
        fmt = "{{.State.Status}}"
        assert (await daemon.docker_ok("inspect", "--format", fmt, HOST, TICKER)).split() == [
            "running",
            "running",
        ]
    finally:
        await daemon.docker("rm", "-f", HOST, TICKER)
