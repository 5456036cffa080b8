"""The contributed systemd units (contrib/systemd) as systemd reads them, and their install
script. systemd does not run here: `systemd-analyze verify` checks the units offline."""

from __future__ import annotations

import grp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MOORAGED = Path(sys.executable).parent / "mooraged"


def _sections(path: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            found[section] = {}
        elif "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found[section][key] = value
    return found


def test_units_are_dockerds_shape() -> None:
    service = _sections(ROOT / "contrib/systemd/moorage.service")["Service"]
    assert service["Type"] == "notify"
    assert service["Delegate"] == "yes" and service["KillMode"] == "process"
    assert " -H fd:// " in service["ExecStart"] + " "
    assert service["ExecReload"] == "/bin/kill -s HUP $MAINPID"
    socket = _sections(ROOT / "contrib/systemd/moorage.socket")["Socket"]
    assert (socket["SocketGroup"], socket["SocketMode"]) == ("docker", "0660")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_install_script_writes_units_that_systemd_accepts(tmp_path: Path) -> None:
    try:
        grp.getgrnam("docker")
    except KeyError:
        pytest.skip("the script would create the docker group on this machine")
    units, config = tmp_path / "units", tmp_path / "etc"
    units.mkdir()
    result = subprocess.run(
        [str(ROOT / "scripts/install-systemd.sh"), str(MOORAGED)],
        env={**os.environ, "UNIT_DIR": str(units), "CONFIG_DIR": str(config)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout
    assert json.loads((config / "daemon.json").read_text()) == {}
    service = _sections(units / "moorage.service")["Service"]
    assert service["ExecStart"].startswith(f"{MOORAGED} -H fd://")
    files = [str(units / "moorage.service"), str(units / "moorage.socket")]
    # Problems are printed (some with status 0): a clean verify prints nothing.
    verify = subprocess.run(
        ["systemd-analyze", "verify", *files], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout + verify.stderr == ""
