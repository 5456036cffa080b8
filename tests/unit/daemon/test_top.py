"""docker top: parsing ps output and running the host's ps."""

from __future__ import annotations

import os
import shutil

import pytest

from daemon import errors
from daemon.top import TopError, container_top, parse_ps_output, validate_ps_args

PS_EF = """\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init splash
root        4242       1  0 10:01 ?        00:00:00 sleep 1000
root        4243    4242  0 10:01 pts/0    00:00:00 sh -c echo  hi   there
root        5000       1  0 10:02 ?        00:00:00 other
"""

PS_AUX = """\
USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND
root        4242  0.0  0.0   1316     4 ?        Ss   10:01   0:00 sleep 1000
"""

PS_THREADS = """\
  PID TTY      STAT   TIME COMMAND
 4242 ?        -      0:00 app --flag
    - -        Ssl    0:00 -
    - -        Ssl    0:00 -
 5000 ?        -      0:00 unrelated
    - -        S      0:00 -
"""


def test_rows_of_the_container_only() -> None:
    body = parse_ps_output(PS_EF, [4242, 4243])
    assert body["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert body["Processes"] == [
        ["root", "4242", "1", "0", "10:01", "?", "00:00:00", "sleep 1000"],
        # Runs of spaces in the command collapse, as in dockerd.
        ["root", "4243", "4242", "0", "10:01", "pts/0", "00:00:00", "sh -c echo hi there"],
    ]


def test_pid_column_anywhere() -> None:
    body = parse_ps_output(PS_AUX, [4242])
    assert body["Titles"][1] == "PID" and body["Titles"][-1] == "COMMAND"
    assert body["Processes"] == [
        ["root", "4242", "0.0", "0.0", "1316", "4", "?", "Ss", "10:01", "0:00", "sleep 1000"]
    ]


def test_thread_rows_follow_their_process() -> None:
    body = parse_ps_output(PS_THREADS, [4242])
    assert body["Processes"] == [
        ["4242", "?", "-", "0:00", "app --flag"],
        ["-", "-", "Ssl", "0:00", "-"],
        ["-", "-", "Ssl", "0:00", "-"],
    ]


def test_no_processes() -> None:
    body = parse_ps_output(PS_EF, [1234])
    assert body["Titles"] == PS_EF.split("\n")[0].split()
    assert body["Processes"] == []


def test_missing_pid_column() -> None:
    with pytest.raises(TopError) as caught:
        parse_ps_output("USER COMMAND\nroot sleep\n", [1])
    assert str(caught.value) == "Couldn't find PID field in ps output"
    assert isinstance(caught.value, errors.SystemError)


def test_unexpected_pid() -> None:
    with pytest.raises(TopError) as caught:
        parse_ps_output("PID CMD\nabc sleep\n", [1])
    assert str(caught.value) == (
        "Unexpected pid 'abc': strconv.Atoi: parsing \"abc\": invalid syntax"
    )


def test_renaming_other_columns_to_pid_is_refused() -> None:
    validate_ps_args("-o pid=PID,args")
    with pytest.raises(TopError) as caught:
        validate_ps_args("-o user=PID,args")
    assert str(caught.value) == 'specifying "user=PID,args" is not allowed'


needs_ps = pytest.mark.skipif(shutil.which("ps") is None, reason="procps is not installed")


@needs_ps
async def test_real_ps_lists_only_given_pids() -> None:
    me = os.getpid()
    body = await container_top([me])
    assert body["Titles"][-1] == "CMD"
    assert [row[1] for row in body["Processes"]] == [str(me)]
    assert "python" in body["Processes"][0][-1]


@needs_ps
async def test_real_ps_with_custom_args() -> None:
    me = os.getpid()
    body = await container_top([me, os.getppid()], "-o pid,args")
    assert body["Titles"] == ["PID", "COMMAND"]
    assert {row[0] for row in body["Processes"]} == {str(me), str(os.getppid())}


@needs_ps
async def test_real_ps_retries_without_pid_selection() -> None:
    # BSD-style "f" does not combine with -q; the retry lists everything and filters.
    me = os.getpid()
    body = await container_top([me], "axf")
    assert [row[body["Titles"].index("PID")] for row in body["Processes"]] == [str(me)]


@needs_ps
async def test_ps_failure_reports_its_first_line() -> None:
    with pytest.raises(TopError) as caught:
        await container_top([os.getpid()], "--no-such-option")
    assert str(caught.value).startswith("ps: ")
    assert "\n" not in str(caught.value)
