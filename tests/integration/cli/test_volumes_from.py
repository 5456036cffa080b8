"""`--volumes-from` (HostConfig.VolumesFrom) with the real docker CLI: the source
container's bind and tmpfs mounts, copied at create as dockerd copies them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.daemon import RunningDaemon


async def _mounts(daemon: RunningDaemon, name: str) -> dict[str, dict[str, object]]:
    out = await daemon.docker_ok("inspect", "--format", "{{json .Mounts}}", name)
    return {m["Destination"]: m for m in json.loads(out)}


async def test_volumes_from_shares_binds_and_tmpfs(daemon: RunningDaemon, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    await daemon.docker_ok(
        "run", "-d", "--name", "vf-source",
        "-v", f"{shared}:/data",
        "--mount", "type=tmpfs,destination=/scratch",
        "busybox", "sh", "-c", "echo from-source > /data/note; exec sleep 300",
    )  # fmt: skip
    try:
        # The file the source wrote through its bind is there for the second container.
        out = await daemon.docker_ok(
            "run", "--rm", "--volumes-from", "vf-source", "busybox",
            "sh", "-c", "until [ -e /data/note ]; do sleep 0.05; done; cat /data/note; "
            "echo back > /data/reply; grep -q ' /scratch tmpfs ' /proc/mounts && echo tmpfs",
        )  # fmt: skip
        assert out == "from-source\ntmpfs\n"
        assert (shared / "reply").read_text() == "back\n"

        # :ro makes the copies read-only.
        code, _, err = await daemon.docker(
            "run", "--rm", "--volumes-from", "vf-source:ro", "busybox",
            "sh", "-c", "cat /data/note && touch /data/nope || touch /scratch/nope",
        )  # fmt: skip
        assert code == 1 and err.count("Read-only file system") == 2, err
        assert not (shared / "nope").exists()

        await daemon.docker_ok("create", "--name", "vf-copy", "--volumes-from", "vf-source:ro",
                               "busybox", "true")  # fmt: skip
        try:
            mounts = await _mounts(daemon, "vf-copy")
            assert mounts["/data"] == {
                "Type": "bind",
                "Source": str(shared),
                "Destination": "/data",
                "Mode": "",
                "RW": False,
                "Propagation": "rprivate",
            }
            assert mounts["/scratch"]["Type"] == "tmpfs" and mounts["/scratch"]["RW"] is False
            volumes_from = await daemon.docker_ok(
                "inspect", "--format", "{{json .HostConfig.VolumesFrom}}", "vf-copy"
            )
            assert json.loads(volumes_from) == ["vf-source:ro"]
        finally:
            await daemon.docker_ok("rm", "vf-copy")
    finally:
        await daemon.docker_ok("rm", "-f", "vf-source")


async def test_volumes_from_bad_input_changes_nothing(daemon: RunningDaemon) -> None:
    await daemon.docker_ok("create", "--name", "vf-there", "busybox", "true")
    try:
        before = await daemon.docker_ok("ps", "-aq")
        for source, status, message in [
            ("vf-nosuch", 400, "No such container: vf-nosuch"),
            ("vf-there:bogus", 400, "invalid mode: bogus"),
            ("vf-there:shared", 400, "invalid mode: shared"),
        ]:
            code, body = await daemon.request(
                "POST",
                "/containers/create",
                {"Image": "busybox", "HostConfig": {"VolumesFrom": [source]}},
                name="vf-never",
            )
            assert (code, body) == (status, {"message": message})
        code, _, err = await daemon.docker("run", "--volumes-from", "vf-nosuch", "busybox", "true")
        assert code == 125 and "No such container: vf-nosuch" in err
        assert await daemon.docker_ok("ps", "-aq") == before
    finally:
        await daemon.docker_ok("rm", "vf-there")
