"""Named OCI runtimes: which shim runs a container and which runtime binary it calls."""

from .table import (
    DEFAULT_RUNTIME,
    SHIM_RUNC_V1,
    SHIM_RUNC_V2,
    Runtime,
    RuntimeTable,
    UnknownRuntimeError,
)

__all__ = [
    "DEFAULT_RUNTIME",
    "SHIM_RUNC_V1",
    "SHIM_RUNC_V2",
    "Runtime",
    "RuntimeTable",
    "UnknownRuntimeError",
]
