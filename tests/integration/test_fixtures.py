"""The test fixtures themselves: reproducible images, a working private containerd."""

from __future__ import annotations

import json
import tarfile
import uuid
from pathlib import Path

import pytest

from libcontainerd.digests import chain_ids
from libcontainerd.supervisor import ContainerdStartError, ManagedContainerd
from tests.support.containerd import (
    ImportedImage,
    TestContainerd,
    count_delta,
    grpc_handled_counts,
    mounts_under,
    parse_prometheus,
    processes_using,
)
from tests.support.images import (
    BuiltImage,
    build_busybox_layer,
    build_image,
    busybox_image,
    file_layer,
    write_docker_save,
    write_oci_layout,
)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_images_are_reproducible(tmp_path: Path) -> None:
    assert build_busybox_layer() == build_busybox_layer.__wrapped__()
    first = write_docker_save(tmp_path / "a.tar")
    second = write_docker_save(tmp_path / "b.tar")
    assert first == second
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    oci_a = write_oci_layout(tmp_path / "a-oci.tar")
    oci_b = write_oci_layout(tmp_path / "b-oci.tar")
    assert oci_a == oci_b
    assert (tmp_path / "a-oci.tar").read_bytes() == (tmp_path / "b-oci.tar").read_bytes()
    # Same image in both archive kinds: same ID and layers, different manifests.
    assert oci_a.id == first.id and oci_a.diff_ids == first.diff_ids
    assert oci_a.manifest_digest != first.manifest_digest


def _member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(name)
        assert member is not None, name
        return member.read()


def test_docker_save_layout(tmp_path: Path) -> None:
    archive = tmp_path / "save.tar"
    info = write_docker_save(archive, ["busybox:latest", "example.com:5000/x/y:v1"])
    manifest = json.loads(_member(archive, "manifest.json"))
    repositories = json.loads(_member(archive, "repositories"))
    config = json.loads(_member(archive, manifest[0]["Config"]))
    layer_id = manifest[0]["Layers"][0].split("/")[0]
    assert _member(archive, f"{layer_id}/VERSION") == b"1.0"
    assert json.loads(_member(archive, f"{layer_id}/json"))["id"] == layer_id
    assert manifest[0]["RepoTags"] == ["busybox:latest", "example.com:5000/x/y:v1"]
    assert repositories == {
        "busybox": {"latest": layer_id},
        "example.com:5000/x/y": {"v1": layer_id},
    }
    assert manifest[0]["Config"] == info.id.removeprefix("sha256:") + ".json"
    assert config["rootfs"]["diff_ids"] == list(info.diff_ids)
    assert config["config"]["Cmd"] == ["sh"]


def test_multi_layer_image() -> None:
    layers = [build_busybox_layer(), file_layer({"/data/a": b"a"}), file_layer({"/data/b": b"b"})]
    image = build_image(layers, {"Cmd": ["cat", "/data/a"], "Labels": {"k": "v"}})
    assert isinstance(image, BuiltImage)
    config = json.loads(image.config)
    assert len(config["rootfs"]["diff_ids"]) == 3 and len(config["history"]) == 3
    assert config["config"]["Labels"] == {"k": "v"}
    assert chain_ids(image.diff_ids)[0] == image.diff_ids[0]
    assert (
        image.config
        == build_image(layers, {"Cmd": ["cat", "/data/a"], "Labels": {"k": "v"}}).config
    )


def test_prometheus_parser() -> None:
    text = (
        "# HELP x y\n# TYPE x counter\n"
        'grpc_server_handled_total{grpc_code="OK",grpc_method="Create",'
        'grpc_service="containerd.services.tasks.v1.Tasks",grpc_type="unary"} 3\n'
        'grpc_server_handled_total{grpc_code="NotFound",grpc_method="Create",'
        'grpc_service="containerd.services.tasks.v1.Tasks",grpc_type="unary"} 1\n'
        'odd{v="a\\"b\\\\c,d}"} +Inf 1700000000\n'
        "plain 2.5e+06\n"
    )
    samples = parse_prometheus(text)
    assert samples[2].labels == {"v": 'a"b\\c,d}'} and samples[2].value == float("inf")
    assert samples[3].value == 2.5e6
    assert grpc_handled_counts(text) == {"Tasks.Create": 4.0}
    assert count_delta({"Tasks.Create": 1.0}, {"Tasks.Create": 4.0, "Tasks.Start": 0.0}) == {
        "Tasks.Create": 3.0
    }


async def test_metrics_count_rpcs(containerd: TestContainerd) -> None:
    before = await containerd.grpc_handled("Version.Version")
    await containerd.ctr("version")
    assert await containerd.grpc_handled("Version.Version") == before + 1
    assert await containerd.grpc_handled("containerd.services.version.v1.Version/Version") > 0
    assert (await containerd.grpc_counts())["Version.Version"] > 0


async def test_docker_save_imports_and_runs(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    images = (await containerd.ctr("images", "ls")).stdout
    assert busybox_image.ref in images and busybox_image.info.manifest_digest in images
    assert busybox_image.info.chain_ids[-1] in await containerd.list_snapshots()
    name = _unique("run")
    out = await containerd.ctr("run", "--rm", busybox_image.ref, name, "echo", "hi")
    assert out.stdout == "hi\n"
    assert name not in await containerd.list_containers()


async def test_oci_layout_imports_and_runs(containerd: TestContainerd) -> None:
    ref = "docker.io/library/moorage-oci:v1"
    layers = [build_busybox_layer(), file_layer({"/etc/motd": b"from oci\n"})]
    image = build_image(layers, {"Cmd": ["cat", "/etc/motd"]})
    archive = containerd.workdir / "images" / "oci.tar"
    archive.parent.mkdir(exist_ok=True)
    info = write_oci_layout(archive, "moorage-oci:v1", image)
    await containerd.import_image(archive)
    assert info.manifest_digest in (await containerd.ctr("images", "ls")).stdout
    out = await containerd.ctr("run", "--rm", ref, _unique("oci"))
    assert out.stdout == "from oci\n"
    await containerd.ctr("images", "rm", ref)


async def test_restart_keeps_running_tasks(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    name = _unique("survivor")
    await containerd.ctr(
        "run", "-d", "--fifo-dir", containerd.fifo_dir, busybox_image.ref, name, "sleep", "300"
    )
    try:
        [task] = [t for t in await containerd.list_tasks() if t.id == name]
        old_pid = containerd.supervisor.pid
        await containerd.restart()
        assert containerd.supervisor.pid != old_pid
        [after] = [t for t in await containerd.list_tasks() if t.id == name]
        assert after.pid == task.pid and after.status == "RUNNING"
    finally:
        await containerd.ctr("tasks", "kill", "-s", "SIGKILL", name, check=False)
        await containerd.ctr("tasks", "delete", "-f", name, check=False)
        await containerd.ctr("containers", "delete", name, check=False)
    assert name not in await containerd.list_containers()
    assert not [t for t in await containerd.list_tasks() if t.id == name]


async def test_sweep_helpers_see_a_running_container(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> None:
    name = _unique("swept")
    await containerd.ctr(
        "run", "-d", "--fifo-dir", containerd.fifo_dir, busybox_image.ref, name, "sleep", "300"
    )
    try:
        [task] = [t for t in await containerd.list_tasks() if t.id == name]
        workdir = str(containerd.workdir)
        assert task.pid in processes_using(workdir)
        assert any(point.endswith(f"/{name}/rootfs") for point in mounts_under(workdir))
    finally:
        await containerd.ctr("tasks", "delete", "-f", name, check=False)
        await containerd.ctr("containers", "delete", name, check=False)


def test_busybox_image_default_is_busybox() -> None:
    assert busybox_image().layers == (build_busybox_layer(),)


async def test_supervisor_reports_early_exit_with_log(tmp_path: Path) -> None:
    (tmp_path / "root").write_text("a file where the root dir should be")
    managed = ManagedContainerd(
        root=tmp_path / "root",
        state=tmp_path / "state",
        address=tmp_path / "c.sock",
        log_path=tmp_path / "containerd.log",
    )
    with pytest.raises(ContainerdStartError, match="not a directory"):
        await managed.start()
    assert not managed.running and managed.pid is None
