"""Errors of the OCI layer.

Every message is the one dockerd gives for the same input, because clients and
scripts match on them. Each error carries the HTTP status dockerd answers with,
so the daemon can map it without a table of its own.
"""

from __future__ import annotations


class SpecError(ValueError):
    """The container's configuration cannot be turned into a runnable spec.

    Raised at create for invalid input: dockerd answers 400.
    """

    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NetworkNotFoundError(SpecError):
    """NetworkMode names a network moorage does not have: dockerd answers 404."""

    http_status = 404


class SecurityOptError(SpecError):
    """A SecurityOpt entry dockerd does not parse: it refuses it at create with a plain
    error, so a 500 (`invalid --security-opt N: "..."`)."""

    http_status = 500


class StartError(SpecError):
    """The spec could not be completed at start (user, group or device lookup,
    bind source creation): dockerd reports these from `start` as 500."""

    http_status = 500
