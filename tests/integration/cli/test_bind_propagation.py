"""A bind's propagation as inspect shows it: what the -v mode or --mount's
bind-propagation asked for, rprivate when nothing did (the SDK's
test_create_with_binds_rw_rshared read rprivate for an rshared bind)."""

from __future__ import annotations

import json
from pathlib import Path

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
