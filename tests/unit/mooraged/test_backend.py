"""Choosing libcontainerd's backend: the flag, daemon.json, and `auto`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from daemon.config import ConfigError, DaemonConfig, load_config
from mooraged.backend import backend_name


def _config(tmp_path: Path, *flags: str, file: dict[str, str] | None = None) -> DaemonConfig:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(file or {}))
    return load_config(["--config-file", str(path), *flags])


def test_flag_and_daemon_json(tmp_path: Path) -> None:
    assert _config(tmp_path).containerd_backend == "auto"
    assert _config(tmp_path, "--containerd-backend", "local").containerd_backend == "local"
    assert _config(tmp_path, file={"containerd-backend": "remote"}).containerd_backend == "remote"
    with pytest.raises(ConfigError, match="invalid containerd-backend 'runc': auto, local, remote"):
        _config(tmp_path, "--containerd-backend", "runc")
    with pytest.raises(ConfigError, match="both as a flag and in the configuration file"):
        _config(tmp_path, "--containerd-backend", "local", file={"containerd-backend": "local"})


def test_auto_is_remote_with_a_socket_or_an_installed_containerd(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert backend_name(DaemonConfig(containerd_backend="local", containerd="/x.sock")) == "local"
    assert backend_name(DaemonConfig(containerd="/run/containerd.sock")) == "remote"
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert backend_name(DaemonConfig()) == "local"
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    assert backend_name(DaemonConfig()) == "remote"
