"""Errors the daemon raises, by kind.

The API layer turns the kind into an HTTP status (see ``api/errors.py``); the
daemon only says what went wrong. Messages are shown to users as they are, so
they carry dockerd's wording.
"""


class DaemonError(Exception):
    """Base of every error the daemon reports to a client."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(DaemonError):
    """The object named in the request does not exist."""


class Conflict(DaemonError):
    """The request clashes with the object's current state or another object."""


class InvalidParameter(DaemonError):
    """The request is malformed or asks for something that cannot be valid."""


class NotModified(DaemonError):
    """Nothing to do: the object is already in the requested state."""


class Forbidden(DaemonError):
    """The request is understood but not allowed."""


# Named after dockerd's errdefs.NotImplemented; like SystemError, use it qualified.
class NotImplemented(DaemonError):
    """The daemon knows the request but has no way to do it (HTTP 501)."""


class Unavailable(DaemonError):
    """A backend the daemon needs (containerd, a registry) cannot be reached now."""


# Named after dockerd's errdefs.System. It shadows the builtin only where it is
# imported by name; prefer ``errors.SystemError`` at call sites.
class SystemError(DaemonError):
    """The daemon failed in a way the client cannot fix (HTTP 500)."""
