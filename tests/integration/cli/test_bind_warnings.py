"""Bind mounts of the daemon's socket or data root are warned about (docker CLI, real daemon).

The container is made all the same; `docker create` prints the create reply's
warnings on stderr, and the daemon logs them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.daemon import RunningDaemon


async def _create(daemon: RunningDaemon, name: str, *mount: str) -> str:
    code, out, err = await daemon.docker("create", "--name", name, *mount, "busybox", "true")
    assert code == 0, err
    assert len(out.strip()) == 64  # made: the warning refuses nothing
    await daemon.docker_ok("rm", name)
    return err


async def test_the_socket_and_the_data_root_are_warned_about(
    daemon: RunningDaemon, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = daemon.services.config.data_root
    with caplog.at_level(logging.WARNING, logger="api.routes.bind_warnings"):
        err = await _create(daemon, "sock", "-v", f"{daemon.socket}:/var/run/docker.sock")
        sock = daemon.socket
        shown = f"the bind mount of {sock} gives the container the daemon's API socket {sock}"
        assert f"WARNING: {shown}" in err
        assert "root on the host" in err
        err = await _create(
            daemon, "root", "--mount", f"type=bind,src={root / 'containers'},dst=/c"
        )
        assert f"gives the container the daemon's data root {root}" in err
    logged = [r.getMessage() for r in caplog.records]
    assert any("API socket" in m for m in logged) and any("data root" in m for m in logged)


async def test_an_ordinary_bind_mount_is_not(daemon: RunningDaemon, tmp_path: Path) -> None:
    err = await _create(daemon, "plain", "-v", f"{tmp_path}:/data")
    assert "bind mount" not in err, err
