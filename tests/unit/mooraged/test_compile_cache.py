"""The start-up's cache of what the imports compile (mooraged/compile_cache.py): the
methods dataclasses and attrs generate, string annotations, regular expressions; each
start in a fresh interpreter: what a second start reuses behaves as what was compiled."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import libcontainerd

ROOT = Path(libcontainerd.__file__).parent.parent

# Dataclasses of the kinds the daemon makes (frozen, slots, defaults, factories, order),
# exercised; the output is the same whether their methods were compiled or cached.
START = """
import dataclasses, json, re, sys, typing
from pathlib import Path
from mooraged import compile_cache
compile_cache.install(Path(sys.argv[1]))
import attr

@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 2
    tags: tuple[str, ...] = ()

@dataclasses.dataclass(order=True)
class Box:
    size: int
    items: list[str] = dataclasses.field(default_factory=list)

# attrs' frozen classes hash with a number of their own, made anew in each process.
@attr.s(frozen=True, slots=True)
class Left:
    a = attr.ib()

@attr.s(frozen=True, slots=True)
class Right:
    a = attr.ib()

word = re.compile(r"(?P<word>[a-z]+)-(\\d+)", re.IGNORECASE)
raw = re.compile(rb"^ab+c$")

p = Point(1)
try:
    p.x = 5
    frozen = False
except dataclasses.FrozenInstanceError:
    frozen = True
box = Box(3)
box.items.append("a")
result = {
    "repr": [repr(p), repr(box)],
    "eq": [p == Point(1, 2), Box(1) < Box(2), Box(2) == Box(2, [])],
    "hash": hash(p) == hash(Point(1)),
    "frozen": frozen,
    "fresh_factory": Box(1).items,
    "init_annotations": sorted(Point.__init__.__annotations__),
    "attrs": [repr(Left(1)), Left(1) == Left(1), Left(1) == Right(1)],
    "forward_ref": repr(eval(typing.ForwardRef("dict[str, int]").__forward_code__)),
    "regex": [
        word.pattern,
        int(word.flags),
        dict(word.groupindex),
        word.match("Ab-12 x").groupdict(),
        word.match("Ab-12 x").groups(),
        word.sub(r"\\2:\\g<word>", "ab-1, cd-22"),
        raw.fullmatch(b"abbbc") is not None,
        raw.fullmatch(b"ac") is not None,
    ],
    "attrs_hash": [hash(Left(1)) == hash(Left(1)), hash(Left(1)) == hash(Right(1))],
    "compiled": compile_cache._active.compiled,
}
compile_cache.finish()
assert "exec" not in vars(dataclasses) and re._compiler.compile.__module__ == "re._compiler"
assert "compile" not in vars(attr._make) and "compile" not in vars(typing)
print(json.dumps(result))
"""


def _start(cache: Path, **env: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", START, str(cache)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, **env},
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_second_start_reuses_the_methods_and_they_behave_alike(tmp_path: Path) -> None:
    cache = tmp_path / "cache.bin"
    first = _start(cache)
    assert first["compiled"] > 0
    assert cache.stat().st_size > 0
    second = _start(cache)
    assert second.pop("compiled") == 0
    first.pop("compiled")
    assert second == first
    assert first["repr"] == ["Point(x=1, y=2, tags=())", "Box(size=3, items=['a'])"]
    assert first["eq"] == [True, True, True]
    assert first["frozen"] is True and first["hash"] is True
    assert first["fresh_factory"] == []
    assert first["init_annotations"] == ["return", "tags", "x", "y"]
    assert first["attrs"] == ["Left(a=1)", True, False]
    assert first["forward_ref"] == "dict[str, int]"
    assert first["regex"] == [
        "(?P<word>[a-z]+)-(\\d+)",
        int(re.IGNORECASE | re.UNICODE),
        {"word": 1},
        {"word": "Ab"},
        ["Ab", "12"],
        "1:ab, 22:cd",
        True,
        False,
    ]
    assert first["attrs_hash"] == [True, False]  # each class's own number, not one cached


def test_a_damaged_file_is_compiled_over(tmp_path: Path) -> None:
    cache = tmp_path / "cache.bin"
    _start(cache)
    cache.write_bytes(cache.read_bytes()[:100])
    assert _start(cache)["compiled"] > 0
    assert _start(cache)["compiled"] == 0


def test_not_written_under_pythondontwritebytecode(tmp_path: Path) -> None:
    cache = tmp_path / "cache.bin"
    _start(cache, PYTHONDONTWRITEBYTECODE="1")
    assert not cache.exists()
