"""Errors of the image service, each a kind from daemon/errors.py (which sets the HTTP status).

Messages are dockerd 20.10's, because the docker CLI and scripts show or match them.
"""

from __future__ import annotations

from daemon.errors import Conflict, Forbidden, InvalidParameter, NotFound, SystemError, Unavailable
from daemon.images.manifest import ManifestError, NoMatchingManifestError
from daemon.images.reference import Reference
from daemon.images.registry.errors import (
    RegistryAuthError,
    RegistryConnectionError,
    RegistryError,
    RegistryNotFoundError,
    RegistryTimeoutError,
)


class NoSuchImage(NotFound):
    """`No such image: busybox:nope` (a bare name is shown with its default tag)."""

    def __init__(self, what: Reference | str) -> None:
        shown = what.with_default_tag().familiar() if isinstance(what, Reference) else what
        super().__init__(f"No such image: {shown}")
        self.reference = shown

    def within(self, what: str) -> NoSuchImage:
        """The same error as image inspect words it: `no such image: x: No such image: x:latest`."""
        wrapped = NoSuchImage(self.reference)
        wrapped.message = f"no such image: {what}: {self.message}"
        wrapped.args = (wrapped.message,)
        return wrapped


class ImageConflict(Conflict):
    """A delete or tag the image's state or its users do not allow."""


class InvalidImageReference(InvalidParameter):
    """A name, tag or ID that cannot be parsed, or a tag that may not be created."""


class InvalidImageArchive(InvalidParameter):
    """`docker load` input that cannot be imported; nothing of it was stored."""


class RegistryNotFound(NotFound):
    """The registry has no such repository or manifest, or no manifest for the platform."""


class RegistryDenied(Forbidden):
    """The registry refused the credentials, or gave none for a private repository."""


class RegistryUnavailable(Unavailable):
    """The registry could not be reached or stopped answering."""


class ImageStoreError(SystemError):
    """containerd or a registry failed in a way the client cannot fix."""


def from_registry(exc: Exception, familiar_ref: str, familiar_name: str) -> Exception:
    """A registry failure of a pull, worded as dockerd words it."""
    if isinstance(exc, RegistryNotFoundError):
        if exc.code == "MANIFEST_UNKNOWN":
            return RegistryNotFound(f"manifest for {familiar_ref} not found: {exc}")
        if exc.code == "NAME_UNKNOWN":
            return RegistryNotFound(f"repository {familiar_name} not found: {exc}")
        return RegistryNotFound(str(exc))
    if isinstance(exc, RegistryAuthError):
        return RegistryDenied(
            f"pull access denied for {familiar_name}, repository does not exist or may "
            f"require 'docker login': {exc}"
        )
    if isinstance(exc, RegistryTimeoutError | RegistryConnectionError):
        return RegistryUnavailable(str(exc))
    if isinstance(exc, NoMatchingManifestError):
        return RegistryNotFound(str(exc))
    if isinstance(exc, RegistryError | ManifestError):
        return ImageStoreError(str(exc))
    return exc
