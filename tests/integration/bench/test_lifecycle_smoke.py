"""The lifecycle benchmark (bench/lifecycle.py) in its smoke mode: that it still runs.

CI runs only this tiny version, so the benchmark cannot rot; its numbers are not
checked (performance is measured by the benchmark, never asserted by tests). What is
checked is what a user of it would see: every contender ran its lifecycles without a
failure, and the report has the tables and the targets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from bench.engines import REPO

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the benchmark needs root")


def test_smoke_run_reports_every_contender_without_failures() -> None:
    contenders = ["moorage", "floor"] + (["dockerd"] if shutil.which("dockerd") else [])
    done = subprocess.run(
        [sys.executable, "-m", "bench.lifecycle", "--smoke", "--scale", "3",
         "--contenders", ",".join(contenders)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = done.stdout
    for k in (1, 2):
        assert f"### K={k}" in report
    lifecycles = [line for line in report.splitlines() if line.startswith("| lifecycles (failed)")]
    assert lifecycles and all(line.count("(0)") == len(contenders) for line in lifecycles), (
        lifecycles
    )
    assert "### Scale: 3 running containers" in report
    assert "## Targets (issue 13)" in report
