"""The seccomp benchmark (bench/seccomp_cost.py) in its smoke mode: that it still runs.

As the lifecycle smoke test: the numbers are not checked, only what a user of the
benchmark would see: dockerd's spec was read back with Docker's seccomp profile in it,
every contender ran its lifecycle without a failure, and the target is judged.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from bench.engines import REPO

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the benchmark needs root"),
    pytest.mark.skipif(shutil.which("dockerd") is None, reason="it reads dockerd's spec"),
]


def test_smoke_run_measures_every_contender_with_dockerds_profile() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.seccomp_cost", "--smoke"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = done.stdout
    for daemon in ("dockerd", "mooraged"):
        size = re.search(rf"{daemon}'s spec (\d+) rules / (\d+) syscalls", report)
        assert size and int(size.group(2)) > 0, report
    lifecycles = [line for line in report.splitlines() if line.startswith("| lifecycles (failed)")]
    assert lifecycles == ["| lifecycles (failed) | 1 (0) | 1 (0) | 1 (0) | 1 (0) | 1 (0) |"], report
    assert re.search(r"moorage / floor-dockerd \(the target\): \d+\.\d+x", report), report
    assert re.search(r"Target \(issue 12\): .*: (met|NOT met)$", report, re.M), report
