"""libcontainerd stays below the daemon: it imports no HTTP, API or daemon code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import libcontainerd

FORBIDDEN = ("api", "daemon", "aiohttp", "pydantic")
PACKAGE = Path(libcontainerd.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_forbidden_import_in_source() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            name for name in _imported_modules(path) if name.split(".")[0] in FORBIDDEN
        )
        for path in PACKAGE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_everything_loads_no_forbidden_module() -> None:
    # betterproto2 imports pydantic on its own when it is installed; blocking it shows that
    # libcontainerd works without it, and that nothing else pulls a forbidden module in.
    code = (
        "import sys\n"
        "sys.modules['pydantic'] = None\n"
        "import pkgutil, libcontainerd\n"
        "for m in pkgutil.walk_packages(libcontainerd.__path__, 'libcontainerd.'):\n"
        "    __import__(m.name)\n"
        f"loaded = [n for n, m in sys.modules.items() if m and n.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(sorted(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
