"""The runtime table: plain configuration data, resolved by name at container create.

A runtime's shim is fixed by the table (built-ins) or is the default shim (custom
runtimes from `--add-runtime` or daemon.json); daemon.json cannot choose a shim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wire.system import RuntimeInfo

SHIM_RUNC_V2 = "io.containerd.runc.v2"
SHIM_RUNC_V1 = "io.containerd.runtime.v1.linux"
DEFAULT_RUNTIME = "runc"


class UnknownRuntimeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Runtime:
    name: str
    shim: str = SHIM_RUNC_V2
    # The OCI runtime binary; empty means the shim's own default (runc on PATH).
    path: str = ""
    args: tuple[str, ...] = field(default_factory=tuple)

    def as_info(self) -> RuntimeInfo:
        """The shape `GET /info` shows under Runtimes."""
        info: RuntimeInfo = {"path": self.path or "runc"}
        if self.args:
            info["runtimeArgs"] = list(self.args)
        return info


BUILTIN: tuple[Runtime, ...] = (
    Runtime(DEFAULT_RUNTIME, SHIM_RUNC_V2),
    Runtime(SHIM_RUNC_V2, SHIM_RUNC_V2),
    Runtime(SHIM_RUNC_V1, SHIM_RUNC_V1),
)


class RuntimeTable:
    def __init__(self, custom: Iterable[Runtime] = (), default: str = DEFAULT_RUNTIME) -> None:
        self._runtimes = {r.name: r for r in BUILTIN}
        for runtime in custom:
            if runtime.name in self._runtimes and runtime.name in {r.name for r in BUILTIN}:
                raise ValueError(f"runtime name '{runtime.name}' is reserved")
            self._runtimes[runtime.name] = runtime
        if default not in self._runtimes:
            raise UnknownRuntimeError(f"specified default runtime '{default}' does not exist")
        self.default = default

    @classmethod
    def from_config(
        cls,
        flags: Iterable[str] = (),
        file_runtimes: Mapping[str, Mapping[str, Any]] | None = None,
        default: str = DEFAULT_RUNTIME,
    ) -> RuntimeTable:
        """Build from `--add-runtime name=path` flags and daemon.json's `runtimes` object."""
        custom: list[Runtime] = []
        for flag in flags:
            name, sep, path = flag.partition("=")
            if not sep or not name or not path:
                raise ValueError(f"invalid runtime: {flag!r}, expected name=path")
            custom.append(Runtime(name, SHIM_RUNC_V2, path))
        for name, entry in (file_runtimes or {}).items():
            if "shim" in entry or "runtimeType" in entry:
                raise ValueError(f"runtime {name}: the shim of a runtime cannot be configured")
            path = entry.get("path", "")
            if not isinstance(path, str) or not path:
                raise ValueError(f"runtime {name}: a path is required")
            args = entry.get("runtimeArgs", [])
            custom.append(Runtime(name, SHIM_RUNC_V2, path, tuple(str(a) for a in args)))
        return cls(custom, default)

    def get(self, name: str | None) -> Runtime:
        runtime = self._runtimes.get(name or self.default)
        if runtime is None:
            raise UnknownRuntimeError(f"Unknown runtime specified {name}")
        return runtime

    def names(self) -> list[str]:
        return sorted(self._runtimes)

    def __iter__(self) -> Any:
        return iter(self._runtimes.values())
