"""What the daemon's imports compile, kept from one start to the next: the methods
dataclasses and attrs generate, the string annotations typing compiles, and the regular
expressions modules compile at import.

Python 3.11's `dataclasses` makes each class's `__init__`, `__repr__`, `__eq__`, ... by
compiling generated source text (`_create_fn` calls `exec` on a string), and attrs (the
classes aiohttp declares with it) does the same with one script per class. The daemon's
imports make ~300 dataclasses (the generated protobuf messages, the daemon's own
records, pydantic's) and ~30 attrs classes: ~850 compilations, a quarter of the imports'
CPU, redone at every start although the texts are the same each time (and `typing`
compiles each string annotation it checks, ~800 of them, mostly pydantic_core's
TypedDicts). The code objects
are kept in one marshal file next to the package's own bytecode (`__pycache__`), keyed
by the exact source text and file name, and reused at the next start; a text not in the
file is compiled as before. Nothing can come out differently: each is compiled with the
flags its caller's `exec`/`compile` would have used (what that module's `from __future__`
imports give), and the key is the whole text.

One part of attrs' texts changes from one process to the next: a class's `__hash__`
starts from a number attrs makes with `hash()` of a string, which Python salts per
process. That number is keyed as a placeholder and put back into the cached code's
constants (`_TYPE_HASH`); a text where it cannot be told apart is compiled uncached.

The ~140 regular expressions the imports compile (aiohttp's, the stdlib's, the daemon's:
~5% of the imports' CPU, most of it `re`'s parser in Python) are kept as what `re` hands
`_sre.compile` (the pattern's code, groups and flags), recorded from `re`'s own compilation
of a pattern not in the file, and made again from it by `_sre.compile` at the next start.

`install()` routes `dataclasses`' `exec`, attrs' and typing's `compile` and `re`'s
compiler through the cache (module-
level names that shadow the builtins for those modules alone); `finish()`, once the
daemon answers, puts the builtins back, drops the cache and writes the file if this start
compiled anything new, holding just the texts this start used (so it never grows with
stale entries). Like Python's own bytecode cache it is not written under
PYTHONDONTWRITEBYTECODE, and a file that cannot be read or written is ignored.
"""

from __future__ import annotations
import __future__

import builtins
import contextlib
import dataclasses
import importlib.util
import marshal
import os
import re
import sys
import threading
import typing
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

# Neither has type stubs.
re_compiler: Any = importlib.import_module("re._compiler")
_sre: Any = importlib.import_module("_sre")

# The marshal format, the bytecode and the regular expressions' code change with Python's
# version (and the optimise level).
_HEADER = (
    importlib.util.MAGIC_NUMBER + bytes([sys.flags.optimize]) + _sre.MAGIC.to_bytes(4, "little")
)
FILE = Path(__file__).parent / "__pycache__" / f"compiled.{sys.implementation.cache_tag}.bin"

# attrs' `__hash__` texts: `hash((` then, on a line of its own, the per-process number.
_TYPE_HASH = re.compile(r"(hash\(\(\n *)(-?\d+)(,\n)")
_PLACEHOLDER = 0x5EED_CAFE_5EED_CAFE

Key = tuple[str, str, int, str]  # file name, mode, compile flags, source text
# A pattern and its flags; what `re` passes `_sre.compile` for them.
RegexKey = tuple[str | bytes, int]
RegexArgs = tuple[Any, ...]


class Cache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.known, self.known_regexes = _read(path)
        self.used: dict[Key, CodeType] = {}
        self.used_regexes: dict[RegexKey, RegexArgs] = {}
        self.compiled = 0  # texts and patterns not in the file

    def code(self, source: str, filename: str, flags: int, mode: str = "exec") -> CodeType:
        key = (filename, mode, flags, source)
        code = self.known.get(key)
        if code is None:
            code = compile(source, filename, mode, flags, True)
            self.compiled += 1
        self.used[key] = code
        return code

    def dataclasses_exec(self, source: Any, globals: Any = None, locals: Any = None) -> None:
        if isinstance(source, str):
            # As `exec(source)` in dataclasses.py compiles it: no __future__ flags there.
            source = self.code(source, "<string>", 0)
        builtins.exec(source, globals, locals)

    def compiler(self, module: ModuleType) -> Any:
        """A `compile` for `module` (attrs' generator, typing's ForwardRef): what the
        builtin gives it."""
        flags = _future_flags(module)

        def cached_compile(source: Any, filename: Any, mode: str, *args: Any, **kw: Any) -> Any:
            if args or kw or mode not in ("exec", "eval") or not isinstance(source, str):
                # Not the callers' form of call: compiled as the caller's own compile would.
                return _inherited_compile(flags, source, filename, mode, *args, **kw)
            if mode == "eval":
                return self.code(source, str(filename), flags, mode)
            return self._type_hashed(source, str(filename), flags)

        return cached_compile

    def _type_hashed(self, source: str, filename: str, flags: int) -> CodeType:
        numbers = {int(m.group(2)) for m in _TYPE_HASH.finditer(source)}
        if not numbers:
            return self.code(source, filename, flags)
        if len(numbers) > 1 or str(_PLACEHOLDER) in source:
            uncached: CodeType = compile(source, filename, "exec", flags, True)
            return uncached
        keyed = _TYPE_HASH.sub(rf"\g<1>{_PLACEHOLDER}\g<3>", source)
        return _replace_constant(self.code(keyed, filename, flags), numbers.pop())

    def regex_compiler(self) -> Any:
        """A `re._compiler.compile` taking what it can from the cache."""
        compile_regex = re_compiler.compile
        main = threading.get_ident()

        def cached_compile(pattern: Any, flags: Any = 0) -> Any:
            if (
                not isinstance(pattern, str | bytes)
                or flags & re.DEBUG
                or threading.get_ident() != main
            ):
                return compile_regex(pattern, flags)
            key = (pattern, int(flags))
            args = self.known_regexes.get(key)
            if args is None:
                # re compiles it, and what it hands _sre.compile is kept (this thread's
                # call: the recorder passes other threads' calls through).
                recorder = _SreRecorder(main)
                re_compiler._sre = recorder
                try:
                    pattern_object = compile_regex(pattern, flags)
                finally:
                    re_compiler._sre = _sre
                if recorder.args is None:
                    return pattern_object
                args = recorder.args
                self.compiled += 1
            self.used_regexes[key] = args
            return _sre.compile(*args)

        return cached_compile

    def write(self) -> None:
        if not self.compiled or sys.dont_write_bytecode:
            return
        try:
            data = _HEADER + marshal.dumps((self.used, self.used_regexes))
        except ValueError:  # something marshal cannot hold: nothing is kept
            return
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()


class _SreRecorder:
    """`_sre` for `re._compiler` while it compiles a pattern the cache lacks: what it
    passes `_sre.compile` from the thread that asked is kept."""

    def __init__(self, thread: int) -> None:
        self.thread = thread
        self.args: RegexArgs | None = None

    def compile(self, *args: Any, **kwargs: Any) -> Any:
        # _sre.compile(pattern, flags, code, groups, groupindex, indexgroup) in 3.11;
        # another form is passed on without being kept.
        if threading.get_ident() == self.thread and len(args) == 6 and not kwargs:
            pattern, flags, code, groups, groupindex, indexgroup = args
            # Plain ints: re's opcodes are an int subclass, which marshal does not take.
            self.args = (
                pattern,
                int(flags),
                [int(c) for c in code],
                int(groups),
                dict(groupindex),
                tuple(indexgroup),
            )
        return _sre.compile(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(_sre, name)


def _future_flags(module: ModuleType) -> int:
    # The only __future__ import that changes code in 3.11 (the others are mandatory).
    flag: int = __future__.annotations.compiler_flag
    return flag if getattr(module, "annotations", None) is __future__.annotations else 0


def _inherited_compile(
    flags: int,
    source: Any,
    filename: Any,
    mode: str,
    own_flags: int = 0,
    dont_inherit: bool = False,
    optimize: int = -1,
    **kw: Any,
) -> Any:
    inherited = 0 if dont_inherit else flags
    return compile(source, filename, mode, own_flags | inherited, True, optimize, **kw)


def _replace_constant(code: CodeType, value: int) -> CodeType:
    """`code` (and the functions' code within it) with `_PLACEHOLDER` made `value`."""
    consts = tuple(
        value
        if type(c) is int and c == _PLACEHOLDER
        else _replace_constant(c, value)
        if isinstance(c, CodeType)
        else c
        for c in code.co_consts
    )
    return code.replace(co_consts=consts)


def _read(path: Path) -> tuple[dict[Key, CodeType], dict[RegexKey, RegexArgs]]:
    try:
        data = path.read_bytes()
    except OSError:
        return {}, {}
    if not data.startswith(_HEADER):
        return {}, {}
    try:
        known = marshal.loads(data[len(_HEADER) :])
    except (EOFError, ValueError, TypeError):
        return {}, {}
    if not (
        isinstance(known, tuple)
        and len(known) == 2
        and isinstance(known[0], dict)
        and isinstance(known[1], dict)
    ):
        return {}, {}
    code, regexes = known
    return _valid_code(code), _valid_regexes(regexes)


def _valid_regexes(known: dict[Any, Any]) -> dict[RegexKey, RegexArgs]:
    # _sre.compile(pattern, flags, code, groups, groupindex, indexgroup)
    return {
        key: args
        for key, args in known.items()
        if isinstance(key, tuple)
        and len(key) == 2
        and isinstance(key[0], str | bytes)
        and isinstance(key[1], int)
        and isinstance(args, tuple)
        and len(args) == 6
        and args[0] == key[0]
        and isinstance(args[1], int)
        and isinstance(args[2], list)
        and isinstance(args[3], int)
        and isinstance(args[4], dict)
        and isinstance(args[5], tuple)
    }


def _valid_code(known: dict[Any, Any]) -> dict[Key, CodeType]:
    return {
        key: code
        for key, code in known.items()
        if isinstance(code, CodeType)
        and isinstance(key, tuple)
        and len(key) == 4
        and isinstance(key[0], str)
        and isinstance(key[1], str)
        and isinstance(key[2], int)
        and isinstance(key[3], str)
    }


_active: Cache | None = None
# The names install() set, each with what finish() puts back (None: a builtin shadowed).
_hooked: list[tuple[ModuleType, str, Any]] = []


def _hook(module: ModuleType, name: str, replacement: Any) -> None:
    _hooked.append((module, name, vars(module).get(name)))
    setattr(module, name, replacement)


def install(path: Path = FILE) -> None:
    """From here on (until `finish`), what the imports compile comes from the cache."""
    global _active
    cache = _active = Cache(path)
    _hook(dataclasses, "exec", cache.dataclasses_exec)
    _hook(re_compiler, "compile", cache.regex_compiler())
    # typing compiles each string annotation it checks (ForwardRef): ~800 at the imports,
    # most of them pydantic_core's TypedDicts.
    _hook(typing, "compile", cache.compiler(typing))
    try:
        import attr._make as attrs_make
    except ImportError:  # aiohttp's dependency; nothing to speed up without it
        return
    _hook(attrs_make, "compile", cache.compiler(attrs_make))


def finish() -> None:
    """Back to plain compilation; the file written if this start compiled something new."""
    global _active
    cache, _active = _active, None
    for module, name, original in reversed(_hooked):
        if original is None:
            delattr(module, name)
        else:
            setattr(module, name, original)
    _hooked.clear()
    if cache is not None:
        cache.write()
