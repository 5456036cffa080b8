"""A bytecode cache for the methods `dataclasses` generates, used while the daemon starts.

Python 3.11 makes each dataclass's `__init__`, `__repr__`, `__eq__`, ... by compiling
generated source text (`dataclasses._create_fn` calls `exec` on a string). The daemon's
imports make ~300 dataclasses (the generated protobuf messages, the daemon's own
records, pydantic's), ~800 such compilations: a fifth of the imports' CPU, redone at
every start although the text is the same each time. The compiled code objects are kept
in one marshal file next to the package's own bytecode (`__pycache__`), keyed by the
exact source text, and reused at the next start; a text not in the file is compiled as
before (nothing can come out differently: the key is the whole source, compiled with
the same flags `exec` would use, none: `dataclasses` has no `__future__` imports).

`install()` routes `dataclasses`' `exec` through the cache (a module-level name that
shadows the builtin for that module alone); `finish()`, once the daemon answers, puts
the builtin back, drops the cache and writes the file if this start compiled anything
new, holding just the texts this start used (so it never grows with stale entries).
Like Python's own bytecode cache it is not written under PYTHONDONTWRITEBYTECODE, and a
file that cannot be read or written is ignored.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import importlib.util
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

# The marshal format and the bytecode change with Python's version and the optimise level.
_HEADER = importlib.util.MAGIC_NUMBER + bytes([sys.flags.optimize])
FILE = Path(__file__).parent / "__pycache__" / f"dataclass-code.{sys.implementation.cache_tag}.bin"


class Cache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.known = _read(path)
        self.used: dict[str, CodeType] = {}
        self.compiled = 0  # texts not in the file

    def code(self, source: str) -> CodeType:
        code = self.known.get(source)
        if code is None:
            # As `exec(source)` in dataclasses.py compiles it (no inherited flags).
            code = compile(source, "<string>", "exec", 0, True)
            self.compiled += 1
        self.used[source] = code
        return code

    def exec(self, source: Any, globals: Any = None, locals: Any = None) -> None:
        if isinstance(source, str):
            source = self.code(source)
        builtins.exec(source, globals, locals)

    def write(self) -> None:
        if not self.compiled or sys.dont_write_bytecode:
            return
        data = _HEADER + marshal.dumps(self.used)
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()


def _read(path: Path) -> dict[str, CodeType]:
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    if not data.startswith(_HEADER):
        return {}
    try:
        known = marshal.loads(data[len(_HEADER) :])
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(known, dict):
        return {}
    return {k: v for k, v in known.items() if isinstance(k, str) and isinstance(v, CodeType)}


_active: Cache | None = None


def install(path: Path = FILE) -> None:
    """From here on (until `finish`), dataclasses' generated methods come from the cache."""
    global _active
    _active = Cache(path)
    setattr(dataclasses, "exec", _active.exec)  # noqa: B010 (a name mypy does not know)


def finish() -> None:
    """Back to plain compilation; the file written if this start compiled something new."""
    global _active
    cache, _active = _active, None
    if cache is None:
        return
    with contextlib.suppress(AttributeError):
        delattr(dataclasses, "exec")
    cache.write()
