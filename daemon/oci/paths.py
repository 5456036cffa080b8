"""Container-side path rules shared by mounts and validation (Linux semantics)."""

from __future__ import annotations

import posixpath

from .errors import SpecError


def clean(path: str) -> str:
    """Lexical clean like Go's path.Clean: no `.`/`..`, no doubled or trailing slash."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    # POSIX lets normpath keep a leading "//"; Go collapses it.
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def depth(path: str) -> int:
    """Components in the cleaned path: a mount must come after the mounts of its parents."""
    return len([part for part in clean(path).split("/") if part])


def check_not_root(path: str) -> None:
    if clean(path.replace("\\", "/")) == "/":
        raise SpecError("invalid specification: destination can't be '/'")


def check_absolute(path: str) -> None:
    path = path.replace("\\", "/")
    if not path.startswith("/"):
        raise SpecError(f"invalid mount path: '{path}' mount path must be absolute")
