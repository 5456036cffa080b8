"""A bind's propagation as inspect shows it: what the -v mode or --mount's
bind-propagation asked for, rprivate when nothing did (the SDK's
test_create_with_binds_rw_rshared read rprivate for an rshared bind); and a shared
bind whose source's mount is not shared fails its start as in dockerd 20.10."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.daemon import RunningDaemon


async def test_inspect_shows_each_binds_propagation(daemon: RunningDaemon, tmp_path: Path) -> None:
    await daemon.docker_ok(
        "create", "--name", "propagation",
        "-v", f"{tmp_path}:/a:ro,rslave",
        "-v", f"{tmp_path}:/b",
        "--mount", f"type=bind,src={tmp_path},dst=/c,bind-propagation=shared",
        "--mount", f"type=bind,src={tmp_path},dst=/d",
        "busybox", "true",
    )  # fmt: skip
    try:
        out = await daemon.docker_ok("inspect", "--format", "{{json .Mounts}}", "propagation")
        shown = {m["Destination"]: (m["Mode"], m["RW"], m["Propagation"]) for m in json.loads(out)}
        assert shown == {
            "/a": ("ro,rslave", False, "rslave"),
            "/b": ("", True, "rprivate"),
            "/c": ("", True, "shared"),
            "/d": ("", True, "rprivate"),
        }
    finally:
        await daemon.docker_ok("rm", "propagation")


def _mount_holding(path: Path) -> tuple[str, str]:
    """(mount point, propagation) of the mount `path` is on, as util-linux sees it."""
    out = subprocess.run(
        ["findmnt", "-n", "-o", "TARGET,PROPAGATION", "--target", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return out[0], out[1]


async def test_a_shared_bind_of_a_private_mount_fails_its_start(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    point, propagation = _mount_holding(tmp_path)
    if "shared" in propagation:
        pytest.skip(f"{point} is a shared mount here")
    code, _, err = await daemon.docker(
        "run", "--name", "shared-bind", "-v", f"{tmp_path}:/in:rshared", "busybox", "true"
    )
    try:
        assert code == 125, err
        assert f"path {tmp_path} is mounted on {point} but it is not a shared mount" in err
        # The start failed; the container is there, created, as dockerd leaves it.
        status = await daemon.docker_ok("inspect", "--format", "{{.State.Status}}", "shared-bind")
        assert status.strip() == "created"
        # rslave wants shared or a slave: the same mount fails that too.
        code, body = await daemon.request(
            "POST", "/containers/create",
            {"Image": "busybox", "HostConfig": {"Binds": [f"{tmp_path}:/in:rslave"]}},
            name="slave-bind",
        )  # fmt: skip
        assert code == 201, body
        code, body = await daemon.request("POST", "/containers/slave-bind/start")
        assert (code, body["message"]) == (
            500, f"path {tmp_path} is mounted on {point} but it is not a shared or slave mount"
        )  # fmt: skip
    finally:
        await daemon.docker("rm", "-f", "shared-bind", "slave-bind")
