"""The lifecycle benchmark's own helpers: /proc readings and the profile summary."""

from __future__ import annotations

import os
import time

from bench import procstat
from bench.profile import strace_summary, summarize


def test_cpu_of_this_process_grows_with_work_and_rss_is_read() -> None:
    before = procstat.cpu(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    spent = procstat.cpu(os.getpid()) - before
    assert spent.own >= 0.03  # clock ticks of 10 ms: a little below the 50 ms burned
    assert 0 <= spent.system <= spent.own
    assert spent.user == (spent.own_ticks - spent.system_ticks) / procstat.TICKS
    assert spent.with_children >= spent.own
    assert procstat.rss_bytes(os.getpid()) > 1 << 20


def test_summary_counts_self_and_total_shares_per_function() -> None:
    folded = "\n".join(
        [
            "main (a/m.py:1);handle (api/h.py:5);encode (json/e.py:9) 3",
            "main (a/m.py:1);handle (api/h.py:6) 1",
        ]
    )
    text = summarize(folded, 5)
    assert text.startswith("4 samples")
    self_part, total_part = text.split("top 5 by total:")
    assert " 75.0%  encode json/e.py" in self_part
    assert " 25.0%  handle api/h.py" in self_part
    assert "100.0%  handle api/h.py" in total_part


def test_strace_table_becomes_calls_per_lifecycle_most_first() -> None:
    table = "\n".join(
        [
            "% time     seconds  usecs/call     calls    errors syscall",
            "------ ----------- ----------- --------- --------- ----------------",
            " 60.00    0.000600          10        40        10 openat",
            " 40.00    0.000400           2       200           futex",
            "------ ----------- ----------- --------- --------- ----------------",
            "100.00    0.001000                   240        10 total",
        ]
    )
    text = strace_summary(table, 20)
    lines = text.splitlines()
    assert lines[0] == "12.0 system calls per lifecycle"
    assert lines[2].split() == ["10.00", "(", "0.00)", "futex"]
    assert lines[3].split() == ["2.00", "(", "0.50)", "openat"]
    assert len(lines) == 4  # the total row is not a call
