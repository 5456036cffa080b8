"""The docker CLI's image commands against mooraged, with a real local registry."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

from tests.support.containerd import ImportedImage, TestContainerd, count_delta
from tests.support.daemon import RunningDaemon, running_daemon
from tests.support.images import (
    BuiltImage,
    build_busybox_layer,
    build_image,
    file_layer,
    write_docker_save,
    write_oci_layout,
)
from tests.support.registry import Registry


def _image(marker: str, extra_layers: int = 1) -> BuiltImage:
    layers = [build_busybox_layer()]
    for index in range(extra_layers):
        layers.append(file_layer({f"layer{index}": f"{marker}-{index}\n".encode()}))
    layers[-1] = file_layer({"marker": f"{marker}\n".encode(), f"layer{extra_layers - 1}": b"x"})
    return build_image(layers, {"Cmd": ["cat", "/marker"]})


async def test_load_both_archive_kinds_and_run(daemon: RunningDaemon, tmp_path: Path) -> None:
    save = tmp_path / "save.tar"
    info = write_docker_save(save, ["moorage-test/saved:1"], _image("from-save"))
    out = await daemon.docker_ok("load", "-i", str(save))
    assert out == "Loaded image: moorage-test/saved:1\n"
    oci = tmp_path / "oci.tar"
    oci_info = write_oci_layout(oci, "moorage-test/oci:1", _image("from-oci"))
    out = await daemon.docker_ok("load", "-i", str(oci))
    assert "moorage-test/oci:1" in out
    ids = await daemon.docker_ok(
        "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"
    )
    assert f"moorage-test/saved:1 {info.id}" in ids.splitlines()
    assert f"moorage-test/oci:1 {oci_info.id}" in ids.splitlines()
    assert await daemon.docker_ok("run", "--rm", "moorage-test/saved:1") == "from-save\n"
    assert await daemon.docker_ok("run", "--rm", "moorage-test/oci:1") == "from-oci\n"


async def test_create_of_an_unpacked_image_costs_no_image_rpc(daemon: RunningDaemon) -> None:
    client = daemon.services.client
    assert client is not None
    before = dict(client.rpc_counts())
    cid = (await daemon.docker_ok("create", "busybox", "true")).strip()
    assert count_delta(before, dict(client.rpc_counts())) == {
        "Snapshots.Prepare": 1,
        "Containers.Create": 1,
    }
    await daemon.docker_ok("rm", cid)


async def test_tag_rmi_conflict_prune_history(daemon: RunningDaemon, tmp_path: Path) -> None:
    archive = tmp_path / "t.tar"
    info = write_docker_save(archive, ["moorage-test/tagged:1"], _image("tagged", 2))
    await daemon.docker_ok("load", "-i", str(archive))
    await daemon.docker_ok("tag", "moorage-test/tagged:1", "moorage-test/tagged:2")
    history = await daemon.docker_ok("history", "-q", "--no-trunc", "moorage-test/tagged:2")
    assert history.splitlines()[0] == info.id
    out = await daemon.docker_ok("rmi", "moorage-test/tagged:2")
    assert out == "Untagged: moorage-test/tagged:2\n"
    cid = (await daemon.docker_ok("create", "moorage-test/tagged:1")).strip()
    code, _, err = await daemon.docker("rmi", "moorage-test/tagged:1")
    assert code == 1
    assert "conflict: unable to remove repository reference" in err and cid[:12] in err
    await daemon.docker_ok("rm", cid)
    out = await daemon.docker_ok("rmi", "moorage-test/tagged:1")
    assert "Untagged: moorage-test/tagged:1" in out and f"Deleted: {info.id}" in out
    # An image loaded without a name is dangling until pruned.
    untagged = tmp_path / "u.tar"
    dangling = write_docker_save(untagged, [], _image("dangling"))
    out = await daemon.docker_ok("load", "-i", str(untagged))
    assert out == f"Loaded image ID: {dangling.id}\n"
    listed = await daemon.docker_ok("images", "-q", "--no-trunc", "--filter", "dangling=true")
    assert dangling.id in listed.split()
    out = await daemon.docker_ok("image", "prune", "-f")
    assert dangling.id in out
    code, _, _ = await daemon.docker("image", "inspect", dangling.id)
    assert code == 1


async def test_save_then_load_keeps_the_id(daemon: RunningDaemon, tmp_path: Path) -> None:
    archive = tmp_path / "orig.tar"
    info = write_docker_save(archive, ["moorage-test/roundtrip:1"], _image("roundtrip", 2))
    await daemon.docker_ok("load", "-i", str(archive))
    saved = tmp_path / "saved.tar"
    await daemon.docker_ok("save", "-o", str(saved), "moorage-test/roundtrip:1")
    with tarfile.open(saved) as tar:
        names = set(tar.getnames())
        manifest = json.load(io.BytesIO(tar.extractfile("manifest.json").read()))  # type: ignore[union-attr]
        repositories = json.load(tar.extractfile("repositories"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["moorage-test/roundtrip:1"]
    assert manifest[0]["Config"] in names and len(manifest[0]["Layers"]) == 3
    assert all(layer in names for layer in manifest[0]["Layers"])
    assert manifest[0]["Config"].removesuffix(".json") == info.id.removeprefix("sha256:")
    assert "moorage-test/roundtrip" in repositories
    await daemon.docker_ok("rmi", "moorage-test/roundtrip:1")
    out = await daemon.docker_ok("load", "-i", str(saved))
    assert out == "Loaded image: moorage-test/roundtrip:1\n"
    image_id = await daemon.docker_ok(
        "image", "inspect", "--format", "{{.Id}}", "moorage-test/roundtrip:1"
    )
    assert image_id.strip() == info.id


async def test_push_pull_run_through_a_registry(
    daemon: RunningDaemon, registry: Registry, tmp_path: Path
) -> None:
    archive = tmp_path / "r.tar"
    info = write_docker_save(archive, ["moorage-test/shipped:1"], _image("shipped", 3))
    await daemon.docker_ok("load", "-i", str(archive))
    remote = f"{registry.host}/moorage/shipped:1"
    await daemon.docker_ok("tag", "moorage-test/shipped:1", remote)
    out = await daemon.docker_ok("push", remote)
    assert "digest: sha256:" in out
    await daemon.docker_ok("rmi", remote, "moorage-test/shipped:1")
    out = await daemon.docker_ok("pull", remote)
    assert f"Status: Downloaded newer image for {remote}" in out
    assert "Pull complete" in out or "Already exists" in out
    assert (
        await daemon.docker_ok("image", "inspect", "--format", "{{.Id}}", remote)
    ).strip() == info.id
    assert await daemon.docker_ok("run", "--rm", remote) == "shipped\n"
    await daemon.docker_ok("rmi", remote)


async def test_login_then_push_and_pull_with_auth(
    daemon: RunningDaemon, auth_registry: Registry, tmp_path: Path
) -> None:
    archive = tmp_path / "a.tar"
    write_docker_save(archive, ["moorage-test/private:1"], _image("private"))
    await daemon.docker_ok("load", "-i", str(archive))
    remote = f"{auth_registry.host}/moorage/private:1"
    await daemon.docker_ok("tag", "moorage-test/private:1", remote)
    code, _, err = await daemon.docker("push", remote)
    assert code == 1
    assert "no basic auth credentials" in err or "unauthorized" in err
    out = await daemon.docker_ok(
        "login",
        auth_registry.host,
        "-u",
        auth_registry.username,
        "--password-stdin",
        stdin=auth_registry.password.encode(),
    )
    assert "Login Succeeded" in out
    await daemon.docker_ok("push", remote)
    await daemon.docker_ok("rmi", remote)
    await daemon.docker_ok("pull", remote)
    assert await daemon.docker_ok("run", "--rm", remote) == "private\n"
    await daemon.docker_ok("rmi", remote, "moorage-test/private:1")


async def test_images_survive_a_daemon_restart(
    containerd: TestContainerd, busybox_image: ImportedImage, tmp_path: Path
) -> None:
    archive = tmp_path / "p.tar"
    info = write_docker_save(archive, ["moorage-test/persist:1"], _image("persist"))
    async with running_daemon(containerd, busybox_image) as first:
        await first.docker_ok("load", "-i", str(archive))
        await first.docker_ok("tag", "moorage-test/persist:1", "moorage-test/persist:2")
        data_root = first.services.config.data_root
    async with running_daemon(containerd, busybox_image, data_root=data_root) as second:
        listed = await second.docker_ok(
            "images", "--no-trunc", "--format", "{{.Tag}} {{.ID}}", "moorage-test/persist"
        )
        assert sorted(listed.splitlines()) == [f"1 {info.id}", f"2 {info.id}"]
        await second.docker_ok("rmi", "moorage-test/persist:1", "moorage-test/persist:2")


async def test_images_filters(daemon: RunningDaemon, tmp_path: Path) -> None:
    labelled = build_image(
        [build_busybox_layer(), file_layer({"marker": b"labelled\n"})],
        {"Cmd": ["cat", "/marker"], "Labels": {"team": "harbor"}},
    )
    write_docker_save(tmp_path / "l.tar", ["moorage-test/filters:labelled"], labelled)
    write_docker_save(tmp_path / "p.tar", ["moorage-test/filters:plain"], _image("plain"))
    await daemon.docker_ok("load", "-i", str(tmp_path / "l.tar"))
    await daemon.docker_ok("load", "-i", str(tmp_path / "p.tar"))
    fmt = "{{.Repository}}:{{.Tag}}"
    by_reference = await daemon.docker_ok(
        "images", "--format", fmt, "--filter", "reference=moorage-test/filters:*"
    )
    assert sorted(by_reference.split()) == [
        "moorage-test/filters:labelled",
        "moorage-test/filters:plain",
    ]
    by_label = await daemon.docker_ok("images", "--format", fmt, "--filter", "label=team=harbor")
    assert by_label.split() == ["moorage-test/filters:labelled"]
    await daemon.docker_ok("rmi", "moorage-test/filters:labelled", "moorage-test/filters:plain")


async def test_pull_into_an_empty_store_shows_per_layer_progress(
    daemon: RunningDaemon,
    containerd: TestContainerd,
    busybox_image: ImportedImage,
    registry: Registry,
    tmp_path: Path,
) -> None:
    archive = tmp_path / "fresh.tar"
    built = _image("fresh", 3)
    info = write_docker_save(archive, ["moorage-test/fresh:1"], built)
    remote = f"{registry.host}/moorage/fresh:1"
    await daemon.docker_ok("load", "-i", str(archive))
    await daemon.docker_ok("tag", "moorage-test/fresh:1", remote)
    await daemon.docker_ok("push", remote)
    await daemon.docker_ok("rmi", remote, "moorage-test/fresh:1")
    async with running_daemon(
        containerd, busybox_image, namespace=f"moorage-pull-{os.getpid()}"
    ) as fresh:
        out = await fresh.docker_ok("pull", remote)
        lines = out.splitlines()
        layers = len(info.diff_ids)
        assert layers == 4
        assert sum(line.endswith(": Pulling fs layer") for line in lines) == layers
        assert sum(line.endswith(": Pull complete") for line in lines) == layers
        assert any(line.startswith("Digest: sha256:") for line in lines)
        assert f"Status: Downloaded newer image for {remote}" in lines
        assert await fresh.docker_ok("run", "--rm", remote) == "fresh\n"
        await fresh.docker_ok("rmi", remote)
