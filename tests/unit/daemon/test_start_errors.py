"""How a runtime's refusal to start a process is reported: kind and words, as dockerd 20.10."""

from __future__ import annotations

import pytest

from daemon import errors
from daemon.start_errors import runtime_start_error

PREFIX = "OCI runtime exec failed: exec failed: unable to start container process: "
HINT = (
    ": Are you trying to mount a directory onto a file (or vice-versa)?"
    " Check if the specified host path exists and is the expected type"
)


@pytest.mark.parametrize(
    "reason",
    [
        'exec: "nosuch": executable file not found in $PATH: unknown',
        'exec: "/nosuch": stat /nosuch: no such file or directory: unknown',
        'exec: "/afile": permission denied: unknown',
        'chdir to cwd ("/nonexist") set in config.json failed: no such file or directory: unknown',
    ],
)
def test_the_clients_mistakes_are_invalid_parameters_in_the_runtimes_words(reason: str) -> None:
    error = runtime_start_error(PREFIX + reason)
    assert type(error) is errors.InvalidParameter and str(error) == PREFIX + reason


def test_a_path_that_is_not_a_directory_gets_dockerds_hint() -> None:
    message = PREFIX + 'exec: "/afile/x": stat /afile/x: not a directory: unknown'
    error = runtime_start_error(message)
    assert type(error) is errors.InvalidParameter and str(error) == message + HINT


def test_anything_else_is_the_daemons_error() -> None:
    message = PREFIX + "container_linux.go: some other failure: unknown"
    error = runtime_start_error(message)
    assert type(error) is errors.SystemError and str(error) == message
