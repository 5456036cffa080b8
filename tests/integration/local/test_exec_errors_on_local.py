"""The CLI's tests of execs that cannot start, the same functions, on the `local` backend:
the same words as on containerd (containerd's wrapping of runc's message)."""

from __future__ import annotations

from tests.integration.cli.test_exec_errors import (
    test_exec_that_cannot_start,
    test_starting_an_exec_again,
)

__all__ = ["test_exec_that_cannot_start", "test_starting_an_exec_again"]
