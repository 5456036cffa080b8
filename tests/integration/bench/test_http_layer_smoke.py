"""The HTTP layer benchmark (bench/http_layer.py), tiny: that it still runs, against this
tree, and reports a cost for every kind of request."""

from __future__ import annotations

import re
import subprocess
import sys

from bench.engines import REPO
from bench.http_layer import REQUESTS


def test_smoke_run_reports_every_request_kind() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.http_layer", "-n", "20", "--block", "10", "--rounds", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for kind in REQUESTS:
        # Every kind answered with its expected status, and its CPU counted.
        assert re.search(rf"^\| {kind} \| [0-9]+\.[0-9] \|$", done.stdout, re.M), done.stdout
