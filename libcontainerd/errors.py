"""Typed errors of libcontainerd, mapped from containerd's gRPC status codes.

The daemon decides what a failure means for a Docker user (404, 409, 500) from
these classes alone, never from gRPC details, so the mapping lives here once.
"""

from __future__ import annotations

import grpc
import grpc.aio


class LibcontainerdError(Exception):
    """A containerd operation failed; `container_id` names the container when known."""

    def __init__(self, message: str, container_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.container_id = container_id

    def __str__(self) -> str:
        return self.message


class NotFoundError(LibcontainerdError):
    """The container, task, process or snapshot does not exist in containerd."""


class AlreadyExistsError(LibcontainerdError):
    """An object with that id already exists."""


class ConflictError(LibcontainerdError):
    """The object is not in a state that allows the operation (failed precondition)."""


class InvalidArgumentError(LibcontainerdError):
    """containerd rejected the request's arguments."""


class UnavailableError(LibcontainerdError):
    """containerd cannot be reached (stopped, restarting, socket gone)."""


class LayerDigestMismatchError(LibcontainerdError):
    """A layer's content does not have the diff ID its image claims."""


class UnknownError(LibcontainerdError):
    """Any other failure, with containerd's own text (often the OCI runtime's)."""


_BY_STATUS: dict[grpc.StatusCode, type[LibcontainerdError]] = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: ConflictError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
}


def from_grpc(exc: BaseException, container_id: str | None = None) -> LibcontainerdError:
    """Translate a failed call (grpcio's AioRpcError: status code and containerd's
    message) or a connection failure into the matching typed error."""
    if isinstance(exc, LibcontainerdError):
        return exc
    if isinstance(exc, grpc.aio.AioRpcError):
        code = exc.code()
        cls = _BY_STATUS.get(code, UnknownError)
        return cls(exc.details() or code.name.lower(), container_id)
    if isinstance(exc, (ConnectionError, OSError)):
        return UnavailableError(f"containerd is not reachable: {exc}", container_id)
    return UnknownError(str(exc), container_id)
