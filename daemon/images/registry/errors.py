"""Errors of registry operations, with messages in the form dockerd reports them."""

from __future__ import annotations

import json


class RegistryError(Exception):
    """A registry operation failed; str() is the message for the user."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code  # the registry's error code (MANIFEST_UNKNOWN, ...) when it sent one

    def __str__(self) -> str:
        return self.message


class RegistryAuthError(RegistryError):
    """Credentials are missing, wrong, or do not grant the access asked for."""


class RegistryNotFoundError(RegistryError):
    """The repository, manifest or blob does not exist."""


class RegistryTimeoutError(RegistryError):
    """The registry did not answer, or stopped sending, within the configured time."""


class RegistryConnectionError(RegistryError):
    """The registry could not be reached, or the connection broke."""


class DigestMismatchError(RegistryError):
    """Content from (or for) the registry does not match its digest or size."""


def describe_errors(body: bytes) -> tuple[str, str | None] | None:
    """`("manifest unknown: manifest unknown", "MANIFEST_UNKNOWN")` from a registry error body."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list) or not errors:
        return None
    texts: list[str] = []
    first_code: str | None = None
    for err in errors:
        if not isinstance(err, dict):
            continue
        code = str(err.get("code") or "UNKNOWN")
        first_code = first_code or code
        label = code.lower().replace("_", " ")
        message = err.get("message")
        texts.append(f"{label}: {message}" if message else label)
    if not texts:
        return None
    return "; ".join(texts), first_code


def error_for_status(
    status: int, reason: str, body: bytes, *, method: str, url: str
) -> RegistryError:
    """The typed error for a failed response, worded the way dockerd words it."""
    described = describe_errors(body)
    text, code = described if described else (None, None)
    if status in (401, 403):
        default = "unauthorized: authentication required" if status == 401 else "denied"
        return RegistryAuthError(
            f'{_verb(method)} "{url}": {text or default}', status=status, code=code
        )
    if status == 404:
        return RegistryNotFoundError(text or f"not found: {url}", status=status, code=code)
    detail = text or f"unexpected status {status} {reason}"
    return RegistryError(f'{_verb(method)} "{url}": {detail}', status=status, code=code)


def _verb(method: str) -> str:
    return method.capitalize()
