"""docker load and save through the image service, on a real containerd."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from daemon.images.errors import InvalidImageArchive, NoSuchImage
from daemon.images.service import ImageService
from tests.integration.images.conftest import Events, service_in
from tests.integration.images.support import (
    collect,
    content_of,
    load_file,
    run_in_container,
    save_bytes,
    streams,
)
from tests.support.containerd import TestContainerd, count_delta
from tests.support.imagefactory import TarBuilder, chunked
from tests.support.images import (
    build_image,
    build_layer,
    busybox_entries,
    busybox_image,
    file_layer,
    write_docker_save,
    write_oci_layout,
)

# Archives reach ImageService.load in request-sized chunks.
LOAD_CHUNK = 64 * 1024


def three_layer_busybox(tag: str) -> tuple[object, list[bytes]]:
    layers = [
        build_layer(busybox_entries()),
        file_layer({"etc/motd": f"hello from {tag}\n".encode()}),
        file_layer({"srv/data": b"x" * 5000}),
    ]
    return build_image(layers, {"Labels": {"test": tag}}), layers


async def test_load_docker_save_gives_config_digest_id_and_a_runnable_chain(
    service: ImageService, containerd: TestContainerd, namespace: str, tmp_path: Path
) -> None:
    events = Events()
    service.set_event_sink(events)
    archive = tmp_path / "busybox.tar"
    info = write_docker_save(archive, ["busybox:latest", "busybox:second"])
    before = dict(service.rpc_counts())
    messages = await collect(service.load(chunked(archive.read_bytes(), LOAD_CHUNK), quiet=False))
    load_rpcs = count_delta(before, dict(service.rpc_counts()))
    assert load_rpcs == {
        "Leases.Create": 1,
        "Snapshots.List": 1,
        "Content.Write": 3,
        "Snapshots.Prepare": 1,
        "Diff.Apply": 1,
        "Snapshots.Commit": 1,
        "Images.Create": 2,
        "Leases.Delete": 1,
    }
    layer_id = info.diff_ids[0].removeprefix("sha256:")[:12]
    loading = [m for m in messages if m.get("status") == "Loading layer"]
    assert loading and all(m["id"] == layer_id for m in loading)
    assert loading[-1]["progressDetail"]["current"] == loading[-1]["progressDetail"]["total"]
    assert streams(messages) == ["Loaded image: busybox:latest\n", "Loaded image: busybox:second\n"]
    assert events.seen == [("load", info.id, {"name": info.id})]

    before = dict(service.rpc_counts())
    image = service.resolve("busybox")
    assert service.resolve(info.id[7:19]) == image
    assert service.resolve(info.id) == image
    assert service.resolve("docker.io/library/busybox:second").id == info.id
    assert dict(service.rpc_counts()) == before  # resolve costs no RPC
    assert image.id == info.id
    assert image.chain_id == info.chain_ids[-1]
    assert image.repo_tags == ("busybox:latest", "busybox:second")
    assert image.container_config["Cmd"] == ["sh"]
    assert image.os == "linux" and image.size > 1_000_000

    output = await run_in_container(
        containerd,
        namespace,
        image.chain_id,
        ["sh", "-c", "echo hello from $(cat /etc/group | head -1)"],
    )
    assert output == b"hello from root:x:0:\n"


async def test_load_oci_layout_with_gzip_layers(
    service: ImageService, containerd: TestContainerd, namespace: str, tmp_path: Path
) -> None:
    image, layers = three_layer_busybox("oci")
    archive = tmp_path / "oci.tar"
    info = write_oci_layout(archive, "example.com/team/app:v1", image)  # type: ignore[arg-type]
    messages = await load_file(service, archive, quiet=True)
    assert streams(messages) == ["Loaded image: example.com/team/app:v1\n"]
    assert not [m for m in messages if "status" in m]  # quiet: no progress
    loaded = service.resolve("example.com/team/app:v1")
    assert loaded.id == info.id
    assert loaded.size == sum(len(layer) for layer in layers)  # uncompressed sizes
    assert loaded.labels == {"test": "oci"}
    output = await run_in_container(containerd, namespace, loaded.chain_id, ["cat", "/etc/motd"])
    assert output == b"hello from oci\n"


async def test_untagged_image_is_loaded_dangling_and_survives(
    service: ImageService, containerd: TestContainerd, namespace: str, tmp_path: Path
) -> None:
    archive = tmp_path / "untagged.tar"
    info = write_docker_save(archive, [], busybox_image({"Env": ["A=untagged"]}))
    messages = await load_file(service, archive)
    assert streams(messages) == [f"Loaded image ID: {info.id}\n"]
    [summary] = service.list()
    assert summary["RepoTags"] == []  # the newest API's shape; 1.41's is wire.image.summary_at
    assert summary["RepoDigests"] == []
    # A record keeps it from the GC, and a restarted service still sees it.
    records = await service.store.images.list()
    target = service.resolve(info.id).content.target.digest
    assert [r.name for r in records] == [f"moby-dangling@{target}"]
    async with service_in(containerd, namespace, tmp_path / "data2") as again:
        assert again.resolve(info.id).dangling


async def test_loading_a_tag_that_names_another_image_renames_the_old_one(
    service: ImageService, tmp_path: Path
) -> None:
    first, second = tmp_path / "1.tar", tmp_path / "2.tar"
    old = write_docker_save(first, ["app:v1"], busybox_image({"Env": ["V=1"]}))
    new = write_docker_save(second, ["app:v1"], busybox_image({"Env": ["V=2"]}))
    await load_file(service, first)
    messages = await load_file(service, second)
    assert streams(messages) == [
        f"The image app:v1 already exists, renaming the old one with ID {old.id} to empty string\n",
        "Loaded image: app:v1\n",
    ]
    assert service.resolve("app:v1").id == new.id
    assert service.resolve(old.id).dangling
    # Loading the same archive again changes nothing and costs no record RPC.
    before = dict(service.rpc_counts())
    await load_file(service, second)
    spent = count_delta(before, dict(service.rpc_counts()))
    assert "Images.Create" not in spent and "Images.Update" not in spent
    assert "Snapshots.Prepare" not in spent


async def test_save_structure_and_round_trip(
    service: ImageService, containerd: TestContainerd, tmp_path: Path
) -> None:
    image, layers = three_layer_busybox("save")
    archive = tmp_path / "in.tar"
    info = write_oci_layout(archive, "localhost:5000/x/y:tag", image)  # type: ignore[arg-type]
    await load_file(service, archive)
    events = Events()
    service.set_event_sink(events)
    data = await save_bytes(service, ["localhost:5000/x/y:tag"])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        repositories = json.loads(tar.extractfile("repositories").read())  # type: ignore[union-attr]
        [entry] = manifest
        assert entry["Config"] == f"{info.id[7:]}.json"
        assert entry["RepoTags"] == ["localhost:5000/x/y:tag"]
        config = tar.extractfile(entry["Config"]).read()  # type: ignore[union-attr]
        assert "sha256:" + hashlib.sha256(config).hexdigest() == info.id
        saved_layers = [tar.extractfile(path).read() for path in entry["Layers"]]  # type: ignore[union-attr]
    assert saved_layers == layers  # uncompressed, as docker-save holds them
    for path in entry["Layers"]:
        layer_dir = path.split("/")[0]
        assert {f"{layer_dir}/VERSION", f"{layer_dir}/json", path} <= set(names)
    top_id = entry["Layers"][-1].split("/")[0]
    assert repositories == {"localhost:5000/x/y": {"tag": top_id}}
    assert events.actions() == ["save"]

    # Into a fresh namespace: same ID, same tag.
    async with service_in(containerd, "moorage-test-images-roundtrip", tmp_path / "rt") as other:
        messages = await collect(other.load(chunked(data, LOAD_CHUNK), quiet=True))
        assert streams(messages) == ["Loaded image: localhost:5000/x/y:tag\n"]
        assert other.resolve("localhost:5000/x/y:tag").id == info.id
        # Saving by ID leaves the tags out.
        by_id = await save_bytes(other, [info.id])
        with tarfile.open(fileobj=io.BytesIO(by_id)) as tar:
            assert json.loads(tar.extractfile("manifest.json").read())[0]["RepoTags"] is None  # type: ignore[union-attr]
            assert "repositories" not in tar.getnames()
    with pytest.raises(NoSuchImage, match="No such image: nosuch:latest"):
        await save_bytes(service, ["nosuch"])


def _bad_archives(tmp_path: Path) -> dict[str, bytes]:
    good = tmp_path / "good.tar"
    write_docker_save(good, ["bad:one"], busybox_image({"Env": ["BAD=1"]}))
    raw = good.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = {m.name: tar.extractfile(m).read() if m.isfile() else None for m in tar}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])  # type: ignore[arg-type]

    def rebuilt(changes: dict[str, bytes | None], extra: list[tuple[str, bytes]] = ()) -> bytes:  # type: ignore[assignment]
        builder = TarBuilder()
        for name, data in {**members, **changes}.items():
            if data is None and name in changes:
                continue
            if data is None:
                builder.directory(name)
            else:
                builder.file(name, data)
        for name, data in extra:
            builder.file(name, data)
        return builder.build()

    missing = json.loads(json.dumps(manifest))
    missing[0]["Layers"][0] = "nosuchdir/layer.tar"
    layer_path = manifest[0]["Layers"][0]
    return {
        "dotdot": rebuilt({}, [("../evil", b"x")]),
        "absolute": rebuilt({}, [("/etc/evil", b"x")]),
        "missing blob": rebuilt({"manifest.json": json.dumps(missing).encode()}),
        "digest mismatch": rebuilt({layer_path: build_layer(busybox_entries()[:3])}),
        "truncated": raw[: len(raw) // 2],
    }


@pytest.mark.parametrize(
    "case", ["dotdot", "absolute", "missing blob", "digest mismatch", "truncated"]
)
async def test_bad_archives_import_nothing(
    service: ImageService, tmp_path: Path, case: str
) -> None:
    data = _bad_archives(tmp_path)[case]
    stream = service.load(chunked(data, LOAD_CHUNK), quiet=False)
    with pytest.raises(InvalidImageArchive) as caught:
        await stream.__anext__()
    assert str(caught.value)
    assert service.list() == []
    assert await service.store.images.list() == []
    assert await content_of(service).list() == []
    assert not list((service.tmp_dir).iterdir())  # the spool is gone too
