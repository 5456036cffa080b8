"""How dockerd 20.10 reads a runtime's refusal to start a process.

The runtime's message reaches the client as it is, with the kind of error (so the
HTTP status of a detached start) read from its words, and one hint appended when a
path was not a directory. A container's start and an exec's read it alike, as dockerd
does; a container's start also takes its exit code from it.
"""

from __future__ import annotations

from . import errors

# Words of a message that make it the client's mistake (400) rather than the daemon's
# (500); the first two groups also give a container's exit code (127, 126).
_NOT_FOUND = (
    "executable file not found",
    "no such file or directory",
    "system cannot find the file specified",
)
_NOT_EXECUTABLE = ("permission denied",)
_INVALID = (*_NOT_FOUND, *_NOT_EXECUTABLE, "failed to run runc create/exec call")
_NOT_A_DIRECTORY = "not a directory"
_NOT_A_DIRECTORY_HINT = (
    ": Are you trying to mount a directory onto a file (or vice-versa)?"
    " Check if the specified host path exists and is the expected type"
)


def runtime_start_error(message: str) -> errors.DaemonError:
    """The error dockerd reports for a process the runtime would not start."""
    lowered = message.lower()
    if _NOT_A_DIRECTORY in lowered:
        return errors.InvalidParameter(message + _NOT_A_DIRECTORY_HINT)
    if any(words in lowered for words in _INVALID):
        return errors.InvalidParameter(message)
    return errors.SystemError(message)


def start_exit_code(message: str) -> int:
    """The exit code dockerd gives a container whose start failed, read from the error."""
    lowered = message.lower()
    if any(words in lowered for words in _NOT_FOUND):
        return 127
    if any(words in lowered for words in _NOT_EXECUTABLE):
        return 126
    return 128
