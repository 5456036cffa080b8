"""A daemon (or its containerd) killed with SIGKILL in the middle of concurrent operations:
after the restart, what moorage shows is what containerd holds, nothing is leaked, and no
exit code is lost.

mooraged runs as its own process here, so that it can really be killed.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import secrets
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.support.containerd import CtrError, ImportedImage, TestContainerd, sweep
from tests.support.mooraged import (
    Disagreement,
    Mooraged,
    check_agreement,
    managed_containerd_pid,
    namespace_leftovers,
)

CONCURRENCY = 20
CALL_DEADLINE = 60.0  # no API call may take longer, whatever was killed under it
RUN_DELAYS = [0.1, 0.25, 0.4, 0.55, 0.7, 0.9, 1.1, 1.35, 1.65, 2.0]
_RESTORE_LINE = re.compile(r'msg="restore: ([a-z-]+) ')


@pytest_asyncio.fixture(loop_scope="session")
async def workdir() -> AsyncIterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="crash-"))
    try:
        yield path
    finally:
        await asyncio.to_thread(sweep, str(path))


async def _started(daemon: Mooraged, image: ImportedImage) -> Mooraged:
    await daemon.start()
    code, out, err = await daemon.docker("load", "-i", str(image.archive))
    assert code == 0, out + err
    return daemon


async def _concurrently(daemon: Mooraged, argvs: list[list[str]]) -> list[asyncio.Task[int]]:
    async def one(argv: list[str]) -> int:
        code, _, _ = await daemon.docker(*argv, timeout=CALL_DEADLINE)
        return code

    return [asyncio.ensure_future(one(argv)) for argv in argvs]


async def _kill_daemon_after(
    daemon: Mooraged, delay: float, calls: list[asyncio.Task[int]]
) -> tuple[int, dict[str, int]]:
    """SIGKILL the daemon `delay` s into `calls`, restart it; (calls that succeeded,
    restore's steps by kind)."""
    await asyncio.sleep(delay)  # the moment of the fault, not a wait for some state
    daemon.kill()
    await daemon.wait()
    codes = await asyncio.gather(*calls)  # each ends within its deadline, or raises
    before = len(daemon.log_lines("restore: "))
    await daemon.start()
    steps = collections.Counter(
        match.group(1)
        for line in daemon.log_lines("restore: ")[before:]
        if (match := _RESTORE_LINE.search(line))
    )
    return sum(code == 0 for code in codes), dict(steps)


async def _remove_everything(daemon: Mooraged) -> None:
    ids = [c["Id"] for c in await daemon.containers()]
    removals = await _concurrently(daemon, [["rm", "-f", cid] for cid in ids])
    assert await asyncio.gather(*removals) == [0] * len(ids)
    assert await daemon.containers() == []
    assert await namespace_leftovers(daemon) == []


async def test_kill_daemon_during_concurrent_runs(
    containerd: TestContainerd, busybox_image: ImportedImage, workdir: Path
) -> None:
    daemon = Mooraged(workdir, containerd.address, f"crash-{secrets.token_hex(4)}")
    await _started(daemon, busybox_image)
    table = []
    try:
        for round_no, delay in enumerate(RUN_DELAYS, 1):
            runs = await _concurrently(
                daemon,
                [["run", "-d", "--name", f"g-{i}", "busybox", "sleep", "300"] for i in range(20)],
            )
            succeeded, steps = await _kill_daemon_after(daemon, delay, runs)
            found = await check_agreement(daemon)
            assert not found, "\n".join(found.problems)
            table.append((round_no, delay, succeeded, found.containers, found.running, steps))
            await _remove_everything(daemon)
    finally:
        for n, delay, answered, listed, running, steps in table:
            print(
                f"round {n} delay {delay:.2f}s: {answered} runs answered, {listed} listed, "
                f"{running} running; restore: {steps}"
            )
        await daemon.stop()
    # Some rounds must have caught operations half-done, or nothing was tested.
    assert any(row[5] for row in table)


async def _twenty_running(daemon: Mooraged) -> list[str]:
    names = [f"s-{i}" for i in range(CONCURRENCY)]
    runs = await _concurrently(
        daemon, [["run", "-d", "--name", name, "busybox", "sleep", "300"] for name in names]
    )
    assert await asyncio.gather(*runs) == [0] * CONCURRENCY
    return names


async def test_kill_daemon_during_concurrent_rm_and_stop(
    containerd: TestContainerd, busybox_image: ImportedImage, workdir: Path
) -> None:
    daemon = Mooraged(workdir, containerd.address, f"crash-{secrets.token_hex(4)}")
    await _started(daemon, busybox_image)
    table = []
    try:
        for action, delay in [("rm", 0.3), ("rm", 0.8), ("stop", 1.05), ("stop", 1.3)]:
            names = await _twenty_running(daemon)
            argv = ["rm", "-f"] if action == "rm" else ["stop", "-t", "1"]
            calls = await _concurrently(daemon, [[*argv, name] for name in names])
            succeeded, steps = await _kill_daemon_after(daemon, delay, calls)
            found = await check_agreement(daemon)
            assert not found, "\n".join(found.problems)
            codes: dict[int, int] = collections.Counter(
                c["State"]["ExitCode"]
                for c in await daemon.containers()
                if not c["State"]["Running"]
            )
            # sleep, as pid 1, ignores SIGTERM: a stopped one was killed after the 1 s.
            assert set(codes) <= {137}, codes
            table.append(
                (action, delay, succeeded, found.containers, found.running, dict(codes), steps)
            )
            await _remove_everything(daemon)
    finally:
        for action, delay, answered, listed, running, codes, steps in table:
            print(
                f"{action} delay {delay:.2f}s: {answered} answered, {listed} listed, "
                f"{running} running, exit codes {codes}; restore: {steps}"
            )
        await daemon.stop()


async def _agreement_once_reachable(daemon: Mooraged) -> Disagreement:
    """A disagreement while containerd cannot be reached."""
    try:
        return await check_agreement(daemon)
    except CtrError as exc:
        return Disagreement([str(exc)], 0, 0)


async def test_kill_containerd_during_concurrent_runs(
    busybox_image: ImportedImage, workdir: Path
) -> None:
    daemon = Mooraged(workdir)  # its own containerd, which it restarts when it dies
    await _started(daemon, busybox_image)
    table = []
    try:
        for delay in (0.3, 0.8, 1.5):
            runs = await _concurrently(
                daemon,
                [["run", "-d", "--name", f"m-{i}", "busybox", "sleep", "300"] for i in range(20)],
            )
            await asyncio.sleep(delay)  # the moment of the fault
            first = managed_containerd_pid(workdir)
            os.kill(first, signal.SIGKILL)
            codes = await asyncio.gather(*runs)  # each within its deadline, or raises
            # The daemon restarts containerd and reconciles what was under way: poll for
            # the agreement, with a deadline.
            async with asyncio.timeout(60):
                while found := await _agreement_once_reachable(daemon):  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
            assert managed_containerd_pid(workdir) != first
            table.append((delay, sum(c == 0 for c in codes), found.containers, found.running))
            await _remove_everything(daemon)
    finally:
        for delay, answered, listed, running in table:
            print(
                f"containerd killed at {delay:.2f}s: {answered} runs answered, {listed} listed, "
                f"{running} running"
            )
        print(daemon.log_tail(60))
        await daemon.stop()
