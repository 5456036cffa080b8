"""The layering: an import never points up (docs/DESIGN.md, "Layers").

mooraged (the process) -> api -> daemon -> libcontainerd, with runtimes beside
libcontainerd and wire (the API's shapes) beside the arrow, used by api and daemon.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import libcontainerd

ROOT = Path(libcontainerd.__file__).parent.parent
# What each package may never import (top-level names).
FORBIDDEN = {
    "libcontainerd": {"api", "daemon", "mooraged", "wire", "aiohttp", "pydantic"},
    "runtimes": {"api", "daemon", "mooraged", "libcontainerd"},
    "wire": {"api", "daemon", "mooraged", "libcontainerd", "aiohttp"},
    "daemon": {"api", "mooraged"},
    "api": {"mooraged"},
}


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_up(package: str) -> None:
    forbidden = FORBIDDEN[package]
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imported_modules(path) if name.split(".")[0] in forbidden
        )
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def _imported_names(path: Path) -> set[str]:
    """Every module, and every `module.name` of a from-import (`from pkg import sub`)."""
    names = _imported_modules(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


# The composition root (mooraged) picks libcontainerd's backend; every other package is
# handed a Client and speaks to it through libcontainerd's Protocols and plain types.
BACKENDS = ("libcontainerd.remote", "libcontainerd.local")


@pytest.mark.parametrize("package", ["api", "daemon", "runtimes", "wire"])
def test_only_the_composition_root_imports_the_backend(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in _imported_names(path)
            if any(name == b or name.startswith(b + ".") for b in BACKENDS)
        )
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_backend_check_sees_both_import_forms(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from libcontainerd import remote\nimport libcontainerd.remote.rpc\n")
    found = _imported_names(module)
    assert "libcontainerd.remote" in found and "libcontainerd.remote.rpc" in found


FORBIDDEN_LCD = tuple(sorted(FORBIDDEN["libcontainerd"]))


def test_importing_libcontainerd_loads_no_forbidden_module() -> None:
    # betterproto2 imports pydantic on its own when it is installed; blocking it shows that
    # libcontainerd works without it, and that nothing else pulls a forbidden module in.
    code = (
        "import sys\n"
        "sys.modules['pydantic'] = None\n"
        "import pkgutil, libcontainerd\n"
        "for m in pkgutil.walk_packages(libcontainerd.__path__, 'libcontainerd.'):\n"
        "    __import__(m.name)\n"
        f"forbidden = {FORBIDDEN_LCD!r}\n"
        "loaded = [n for n, m in sys.modules.items() if m and n.split('.')[0] in forbidden]\n"
        "print(sorted(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
