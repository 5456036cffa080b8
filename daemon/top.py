"""``docker top``: the host's ``ps`` output, narrowed to a container's processes.

As dockerd 20.10 does it: ``ps`` runs on the host with the client's arguments
(split on single spaces) plus ``-q <pids>`` so that it only looks at the
container's processes; some options do not mix with ``-q``, so on failure it
runs again without it. Either way only rows whose PID is one of the
container's are kept, with thread rows (PID "-") following a kept process.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Sequence

from daemon import errors
from wire.container import ContainerTopResponse

DEFAULT_PS_ARGS = "-ef"

# "pid=PID" and the like rename a column; only the PID column may be renamed.
_RENAMED_PID = re.compile(r"[\t\n\f\r ]+([^\t\n\f\r ]*)=[\t\n\f\r ]*(PID[^\t\n\f\r ]*)")
_ASCII_SPACE = re.compile(r"[\t\n\f\r ]+")
_GO_INT = re.compile(r"[+-]?[0-9]+")


class TopError(errors.SystemError, ValueError):
    """``ps`` failed or printed something that cannot be matched to the container."""


async def container_top(pids: Sequence[int], ps_args: str = "") -> ContainerTopResponse:
    """List the processes among `pids` (the container's, from Tasks.ListPids) with ``ps``."""
    ps_args = ps_args or DEFAULT_PS_ARGS
    validate_ps_args(ps_args)
    args = ps_args.split(" ")
    output: bytes | None = None
    if pids:
        output = await _run_ps([*args, "-q" + ",".join(str(pid) for pid in pids)])
    if output is None:
        output = await _run_ps(args, raise_error=True)
        assert output is not None
    return parse_ps_output(output.decode("utf-8", "replace"), pids)


def validate_ps_args(ps_args: str) -> None:
    for key, value in _RENAMED_PID.findall(ps_args):
        if key != "pid":
            raise TopError(f'specifying "{key}={value}" is not allowed')


def parse_ps_output(output: str, pids: Collection[int]) -> ContainerTopResponse:
    """Keep the rows of `output` that belong to `pids`; the last column may hold spaces."""
    lines = output.split("\n")
    titles = _fields(lines[0])
    if "PID" not in titles:
        raise TopError("Couldn't find PID field in ps output")
    pid_index = titles.index("PID")
    wanted = set(pids)
    processes: list[list[str]] = []
    # A thread row (PID "-", as with "ps m") belongs to the process row above it.
    previous_kept = False
    for line in lines[1:]:
        fields = _fields(line)
        if len(fields) <= pid_index:
            continue
        pid_text = fields[pid_index]
        if pid_text == "-":
            if previous_kept:
                processes.append(_row(fields, len(titles)))
            continue
        if _GO_INT.fullmatch(pid_text) is None:
            raise TopError(
                f"Unexpected pid '{pid_text}': strconv.Atoi: parsing \"{pid_text}\": invalid syntax"
            )
        pid = int(pid_text)
        previous_kept = pid in wanted
        if previous_kept:
            processes.append(_row(fields, len(titles)))
    return {"Processes": processes, "Titles": titles}


def _fields(line: str) -> list[str]:
    # Only ASCII white space separates columns; other spaces belong to a value.
    return [field for field in _ASCII_SPACE.split(line) if field]


def _row(fields: list[str], columns: int) -> list[str]:
    return [*fields[: columns - 1], " ".join(fields[columns - 1 :])]


async def _run_ps(args: list[str], *, raise_error: bool = False) -> bytes | None:
    try:
        process = await asyncio.create_subprocess_exec(
            "ps",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        if raise_error:
            raise TopError('ps: exec: "ps": executable file not found in $PATH') from None
        return None
    stdout, stderr = await process.communicate()
    if process.returncode == 0:
        return stdout
    if not raise_error:
        return None
    # The first line of ps's complaint says why, as dockerd reports it.
    reason = stderr.decode("utf-8", "replace").split("\n", 1)[0]
    if not reason:
        reason = f"exit status {process.returncode}"
    raise TopError(f"ps: {reason}")
