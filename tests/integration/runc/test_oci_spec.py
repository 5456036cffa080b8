"""A spec from the builder, run by the real containerd and runc.

Privileged (all of the daemon's capabilities, no more), read-only root, a tmpfs,
a bind mount of a host directory, a memory limit and a named user resolved from
the image's own /etc/passwd, read straight from the snapshot's layer directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio

from daemon.oci import (
    bounding_capabilities,
    build_spec,
    create_missing_bind_sources,
    merge_config,
    normalize_host_config,
    probe_sysinfo,
    reader_for_mounts,
    validate_create,
    write_etc_files,
)
from daemon.oci.rootfs import FileReader
from libcontainerd.types import EventType, StdioSpec
from tests.support.capabilities import privileged_mask
from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.images import busybox_image as build_busybox_image
from tests.support.lcd import connected, new_container_on, read_all, unique_id
from wire.container import ContainerCreateRequest

MEMORY = 64 * 1024 * 1024
SCRIPT = """\
id -u
grep CapBnd /proc/self/status
touch /x 2>/dev/null || echo ro
echo ok > /bindmnt/f
echo in-tmpfs > /scratch/t && cat /scratch/t
cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max
cat /etc/hostname
"""


@dataclass(frozen=True)
class SnapshotMount:
    type: str
    source: str
    options: list[str]


@pytest_asyncio.fixture(loop_scope="session")
async def image_files(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> AsyncIterator[FileReader]:
    """Reads the image's files through a read-only view of its top layer."""
    key = unique_id("oci-view")
    out = await containerd.ctr(
        "snapshots", "view", "--mounts", key, busybox_image.info.chain_ids[-1]
    )
    mounts = [
        SnapshotMount(
            m.get("type") or m.get("Type"),
            m.get("source") or m.get("Source"),
            m.get("options") or m.get("Options") or [],
        )
        for m in json.loads(out.stdout)
    ]
    try:
        yield reader_for_mounts(mounts)
    finally:
        await containerd.ctr("snapshots", "rm", key, check=False)


async def test_built_spec_runs_on_runc(
    containerd: TestContainerd,
    busybox_image: ImportedImage,
    image_files: FileReader,
    tmp_path: Path,
) -> None:
    cid = unique_id("oci-run")
    shared = tmp_path / "shared"
    container_dir = tmp_path / "container"
    container_dir.mkdir()
    request: dict[str, Any] = {
        "Image": "busybox",
        "Cmd": ["sh", "-c", SCRIPT],
        "User": "nobody",
        "HostConfig": {
            "Privileged": True,
            "ReadonlyRootfs": True,
            "Memory": MEMORY,
            "MemorySwappiness": -1,
            "Binds": [f"{shared}:/bindmnt"],
            "Mounts": [{"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"Mode": 0o1777}}],
            "NetworkMode": "none",
        },
    }

    # create
    sysinfo = probe_sysinfo()
    assert validate_create(ContainerCreateRequest.model_validate(request), sysinfo) == []
    image_config = build_busybox_image().config_dict["config"]
    merged = merge_config(request, image_config, container_id=cid)
    host_config = normalize_host_config(request["HostConfig"], sysinfo)
    # start
    create_missing_bind_sources(host_config)
    shared.chmod(0o777)  # the container writes as nobody
    etc_paths = write_etc_files(str(container_dir), merged.config, host_config)
    spec = build_spec(
        cid,
        merged.config,
        host_config,
        cgroup_parent=f"/{containerd.namespace}",
        etc_paths=etc_paths,
        daemon_caps=bounding_capabilities(),
        read_file=image_files,
    )
    assert spec["process"]["user"] == {"uid": 65534, "gid": 65534}

    async with connected(containerd) as (client, backend):
        container = await new_container_on(client, containerd, busybox_image, cid, spec)
        try:
            task = await container.new_task(StdioSpec(stdout=True, stderr=True))
            await task.start()
            assert task.stdio.stdout is not None and task.stdio.stderr is not None
            output = (await read_all(task.stdio.stdout)).decode()
            errors = (await read_all(task.stdio.stderr)).decode()
            exit_info = await backend.wait_for(cid, EventType.EXIT)
            await task.delete()
        finally:
            await container.delete()

    assert exit_info.exit_code == 0, (output, errors)
    assert output.splitlines() == [
        "65534",
        f"CapBnd:\t{privileged_mask():016x}",
        "ro",
        "in-tmpfs",
        str(MEMORY),
        merged.config["Hostname"],
    ], errors
    assert (shared / "f").read_text() == "ok\n"
    assert os.stat(shared / "f").st_uid == 65534
