"""Reading docker-save and OCI-layout archives from a stream, and writing docker-save."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import tarfile
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from daemon.images import mediatypes
from daemon.images.archive import (
    ImageArchiveError,
    ImportImage,
    SaveImage,
    SaveLayer,
    read_image_archive,
    write_docker_save,
)
from daemon.images.manifest import Manifest, parse_manifest
from daemon.images.platforms import parse_platform
from libcontainerd.digests import sha256_digest
from tests.support.imagefactory import (
    SampleImage,
    TarBuilder,
    add_image_blobs,
    amd64_arm64_index,
    chunked,
    docker_save,
    gzip_bytes,
    make_image,
    make_layer,
    oci_index,
)
from tests.support.images import descriptor

AMD64 = parse_platform("linux/amd64")


async def read(data: bytes, spool: Path, **kwargs: object) -> list[ImportImage]:
    return await read_image_archive(chunked(data), spool, **kwargs)  # type: ignore[arg-type]


def assert_blobs_on_disk(image: ImportImage) -> None:
    for blob in image.blobs:
        content = blob.path.read_bytes()
        assert sha256_digest(content) == blob.digest
        assert len(content) == blob.size


async def test_docker_save_archive(tmp_path: Path) -> None:
    base = make_image([1, 2])
    other = make_image([1, 2, 3])  # shares two layers: written once, then symlinked
    archive = docker_save([(base, ["busybox:latest", "busybox:1.36"]), (other, [])])
    images = await read(archive, tmp_path)
    assert [image.id for image in images] == [base.id, other.id]
    first, second = images
    assert first.names == [
        "docker.io/library/busybox:latest",
        "docker.io/library/busybox:1.36",
    ]
    assert second.names == []
    assert first.config == base.config
    assert [layer.diff_id for layer in second.layers] == other.diff_ids
    assert all(layer.media_type == mediatypes.DOCKER_LAYER for layer in first.layers)
    assert all(layer.digest == layer.diff_id for layer in first.layers)
    # The shared layers resolve to the same spooled files through docker's symlinks.
    assert second.layers[0].path == first.layers[0].path
    manifest = parse_manifest(first.manifest.path.read_bytes())
    assert isinstance(manifest, Manifest)
    assert first.target == first.manifest
    assert first.manifest.media_type == mediatypes.DOCKER_MANIFEST
    assert manifest.media_type == mediatypes.DOCKER_MANIFEST
    assert manifest.config.digest == base.id
    assert manifest.config.media_type == mediatypes.DOCKER_CONFIG
    assert [layer.digest for layer in manifest.layers] == base.diff_ids
    assert [b.digest for b in first.blobs] == [*base.diff_ids, base.id, first.manifest.digest]
    assert_blobs_on_disk(first)
    assert_blobs_on_disk(second)


async def test_docker_save_with_gzip_layers_computes_diff_ids(tmp_path: Path) -> None:
    image = make_image([5, 6])
    [found] = await read(docker_save([(image, ["x/y:z"])], gzip_layers=True), tmp_path)
    assert found.names == ["docker.io/x/y:z"]
    assert [layer.diff_id for layer in found.layers] == image.diff_ids
    assert [layer.digest for layer in found.layers] == [sha256_digest(b) for b in image.blobs]
    assert all(layer.media_type == mediatypes.DOCKER_LAYER_GZIP for layer in found.layers)
    assert found.layers[0].compression == "gzip"


async def test_compressed_archive_is_accepted(tmp_path: Path) -> None:
    image = make_image([7])
    archive = gzip.compress(docker_save([(image, ["a:b"])]))
    [found] = await read(archive, tmp_path)
    assert found.id == image.id


async def test_docker_25_save_has_both_layouts(tmp_path: Path) -> None:
    image = make_image([8, 9], oci=True)
    builder = add_image_blobs(TarBuilder(), image)
    builder.json("oci-layout", {"imageLayoutVersion": "1.0.0"})
    builder.file(
        "index.json",
        oci_index(
            [
                descriptor(
                    mediatypes.OCI_MANIFEST,
                    image.manifest,
                    annotations={
                        "io.containerd.image.name": "docker.io/library/app:1",
                        "org.opencontainers.image.ref.name": "1",
                    },
                )
            ]
        ),
    )
    builder.json(
        "manifest.json",
        [
            {
                "Config": "blobs/sha256/" + image.id.split(":")[1],
                "RepoTags": ["app:1", "app:extra"],
                "Layers": ["blobs/sha256/" + sha256_digest(b).split(":")[1] for b in image.blobs],
            }
        ],
    )
    [found] = await read(builder.build(), tmp_path)
    assert found.names == ["docker.io/library/app:1", "docker.io/library/app:extra"]
    assert found.manifest.digest == image.manifest_digest
    assert found.target.media_type == mediatypes.OCI_MANIFEST
    assert all(layer.media_type == mediatypes.OCI_LAYER_GZIP for layer in found.layers)
    assert [layer.diff_id for layer in found.layers] == image.diff_ids
    assert_blobs_on_disk(found)


def multi_platform_layout(
    amd: SampleImage, arm: SampleImage, annotations: dict[str, str]
) -> tuple[bytes, bytes]:
    inner = amd64_arm64_index(amd, arm)
    builder = add_image_blobs(add_image_blobs(TarBuilder(), amd), arm)
    builder.blob(inner)
    builder.json("oci-layout", {"imageLayoutVersion": "1.0.0"})
    builder.file(
        "index.json",
        oci_index([descriptor(mediatypes.OCI_INDEX, inner, annotations=annotations)]),
    )
    return builder.build(), inner


async def test_oci_layout_with_nested_index_picks_the_platform(tmp_path: Path) -> None:
    amd = make_image([10, 11], oci=True)
    arm = make_image([12], arch="arm64", variant="v8", oci=True)
    archive, inner = multi_platform_layout(
        amd, arm, {"org.opencontainers.image.ref.name": "registry.test/team/app:2.0"}
    )
    [found] = await read(archive, tmp_path / "a", platform=AMD64)
    assert found.names == ["registry.test/team/app:2.0"]
    assert found.target.digest == sha256_digest(inner)
    assert found.target.media_type == mediatypes.OCI_INDEX
    assert found.manifest.digest == amd.manifest_digest
    assert found.id == amd.id
    assert [b.digest for b in found.blobs][-2:] == [amd.manifest_digest, sha256_digest(inner)]
    (tmp_path / "b").mkdir()
    [on_arm] = await read(archive, tmp_path / "b", platform=parse_platform("linux/arm64"))
    assert on_arm.id == arm.id
    (tmp_path / "c").mkdir()
    with pytest.raises(ImageArchiveError, match="no matching manifest for linux/s390x"):
        await read(archive, tmp_path / "c", platform=parse_platform("linux/s390x"))


async def test_oci_layout_names(tmp_path: Path) -> None:
    image = make_image([13], oci=True)
    builder = add_image_blobs(TarBuilder(), image)
    builder.file(
        "index.json",
        oci_index(
            [
                # A bare tag names no repository, so this entry stays unnamed...
                descriptor(
                    mediatypes.OCI_MANIFEST,
                    image.manifest,
                    annotations={"org.opencontainers.image.ref.name": "latest"},
                ),
                # ...but the same manifest listed again under a full name gets it.
                descriptor(
                    mediatypes.OCI_MANIFEST,
                    image.manifest,
                    annotations={"org.opencontainers.image.ref.name": "busybox:musl"},
                ),
            ]
        ),
    )
    [found] = await read(builder.build(), tmp_path)
    assert found.names == ["docker.io/library/busybox:musl"]


async def test_only_present_platforms_are_candidates(tmp_path: Path) -> None:
    """A single-platform save of a multi-platform image lists blobs it does not carry."""
    amd = make_image([14], oci=True)
    arm = make_image([15], arch="arm64", oci=True)
    inner = oci_index(
        [
            descriptor(
                mediatypes.OCI_MANIFEST,
                arm.manifest,
                platform={"os": "linux", "architecture": "arm64"},
            ),
            descriptor(
                mediatypes.OCI_MANIFEST,
                amd.manifest,
                platform={"os": "linux", "architecture": "amd64"},
            ),
        ]
    )
    builder = add_image_blobs(TarBuilder(), amd).blob(inner)
    builder.file("index.json", oci_index([descriptor(mediatypes.OCI_INDEX, inner)]))
    [found] = await read(builder.build(), tmp_path, platform=AMD64)
    assert found.id == amd.id


# errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda b: b.file("../evil", b"x"), "path contains '..'"),
        (lambda b: b.file("a/../../evil", b"x"), "path contains '..'"),
        (lambda b: b.file("/etc/evil", b"x"), "absolute path"),
        (lambda b: b.symlink("link", "../../etc/passwd"), "escapes the archive"),
        (lambda b: b.symlink("a/b/link", "../../../x"), "escapes the archive"),
        (lambda b: b.symlink("link", "/etc/passwd"), "escapes the archive"),
        (lambda b: b.hardlink("link", "../x"), "escapes the archive"),
        (lambda b: b.hardlink("link", "nothing-here"), "not earlier in the archive"),
    ],
)
async def test_unsafe_members_are_refused(tmp_path: Path, build, message: str) -> None:  # type: ignore[no-untyped-def]
    builder = TarBuilder()
    build(builder)
    with pytest.raises(ImageArchiveError, match=message):
        await read(builder.build(), tmp_path)
    assert not (tmp_path.parent / "evil").exists()


async def test_link_inside_the_archive_is_followed(tmp_path: Path) -> None:
    image = make_image([16])
    save = docker_save([(image, ["t:1"])])
    # Re-pack with the config reached through a directory symlink and a hard link.
    with tarfile.open(fileobj=io.BytesIO(save)) as source:
        builder = TarBuilder()
        for member in source.getmembers():
            if member.name == "manifest.json":
                continue
            data = source.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.issym():
                builder.symlink(member.name, member.linkname)
            elif member.isdir():
                builder.directory(member.name)
            else:
                builder.file(member.name, data)
    with tarfile.open(fileobj=io.BytesIO(save)) as source:
        manifest = json.loads(source.extractfile("manifest.json").read())  # type: ignore[union-attr]
    builder.symlink("configs", ".").hardlink("hard.json", manifest[0]["Config"])
    manifest[0]["Config"] = "configs/hard.json"
    builder.json("manifest.json", manifest)
    [found] = await read(builder.build(), tmp_path)
    assert found.id == image.id


async def test_missing_blob_named_by_manifest(tmp_path: Path) -> None:
    image = make_image([17], oci=True)
    builder = TarBuilder().blob(image.config).blob(image.manifest)  # layer blob left out
    builder.file("index.json", oci_index([descriptor(mediatypes.OCI_MANIFEST, image.manifest)]))
    with pytest.raises(ImageArchiveError) as caught:
        await read(builder.build(), tmp_path)
    assert str(caught.value) == (
        f"blob {sha256_digest(image.blobs[0])} named by manifest {image.manifest_digest} "
        "is missing from the archive"
    )


async def test_missing_layer_in_docker_save(tmp_path: Path) -> None:
    image = make_image([18])
    builder = TarBuilder().file(image.id.split(":")[1] + ".json", image.config)
    builder.json(
        "manifest.json", [{"Config": image.id.split(":")[1] + ".json", "Layers": ["x/layer.tar"]}]
    )
    with pytest.raises(
        ImageArchiveError, match=r'manifest\.json names "x/layer\.tar", which is missing'
    ):
        await read(builder.build(), tmp_path)


async def test_blob_digest_must_match_its_name(tmp_path: Path) -> None:
    name = "blobs/sha256/" + "0" * 64
    builder = TarBuilder().file(name, b"not what the name says")
    with pytest.raises(ImageArchiveError) as caught:
        await read(builder.build(), tmp_path)
    digest = sha256_digest(b"not what the name says")
    assert str(caught.value) == f"blob {name} has digest {digest}, which does not match its name"


async def test_config_named_by_digest_must_match(tmp_path: Path) -> None:
    image = make_image([19])
    wrong = "1" * 64 + ".json"
    builder = TarBuilder().file(wrong, image.config).file("l/layer.tar", image.layers[0])
    builder.json("manifest.json", [{"Config": wrong, "Layers": ["l/layer.tar"]}])
    with pytest.raises(ImageArchiveError, match="does not match its name"):
        await read(builder.build(), tmp_path)


async def test_diff_id_and_layer_count_are_checked(tmp_path: Path) -> None:
    image = make_image([20])
    config_name = image.id.split(":")[1] + ".json"
    wrong_layer = TarBuilder().file(config_name, image.config).file("l/layer.tar", make_layer(99))
    wrong_layer.json("manifest.json", [{"Config": config_name, "Layers": ["l/layer.tar"]}])
    with pytest.raises(ImageArchiveError, match=r'invalid diffID for layer 0: expected "sha256:'):
        await read(wrong_layer.build(), tmp_path / "a")
    (tmp_path / "b").mkdir()
    extra = TarBuilder().file(config_name, image.config).file("l/layer.tar", image.layers[0])
    extra.json("manifest.json", [{"Config": config_name, "Layers": ["l/layer.tar", "l/layer.tar"]}])
    with pytest.raises(ImageArchiveError) as caught:
        await read(extra.build(), tmp_path / "b")
    assert str(caught.value) == "invalid manifest, layers length mismatch: expected 2, got 1"


@pytest.mark.parametrize("cut", [100, 700, 5000, -1100])
async def test_truncated_archive(tmp_path: Path, cut: int) -> None:
    archive = docker_save([(make_image([21, 22]), ["t:1"])])
    with pytest.raises(ImageArchiveError, match="the tar stream is truncated"):
        await read(archive[:cut], tmp_path)


async def test_truncated_gzip_archive(tmp_path: Path) -> None:
    archive = gzip.compress(docker_save([(make_image([23]), ["t:1"])]))
    with pytest.raises(ImageArchiveError, match="truncated"):
        await read(archive[: len(archive) // 2], tmp_path)


async def test_not_an_image_archive(tmp_path: Path) -> None:
    with pytest.raises(ImageArchiveError, match=r"neither manifest\.json nor index\.json"):
        await read(TarBuilder().file("readme", b"hi").build(), tmp_path / "a")
    (tmp_path / "b").mkdir()
    with pytest.raises(ImageArchiveError, match="checksum"):
        await read(b"this is not a tar file at all" * 40, tmp_path / "b")
    (tmp_path / "c").mkdir()
    with pytest.raises(ImageArchiveError, match=r"invalid manifest\.json"):
        await read(TarBuilder().file("manifest.json", b"{nope").build(), tmp_path / "c")
    (tmp_path / "d").mkdir()
    legacy = TarBuilder().json("repositories", {"a": {"b": "c"}}).build()
    with pytest.raises(ImageArchiveError, match="legacy"):
        await read(legacy, tmp_path / "d")


async def test_long_names_in_gnu_and_pax_archives(tmp_path: Path) -> None:
    image = make_image([24])
    long_dir = "d" * 120
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        spool = tmp_path / str(fmt)
        spool.mkdir()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
            for name, data in (
                (f"{long_dir}/layer.tar", image.layers[0]),
                ("c.json", image.config),
                (
                    "manifest.json",
                    json.dumps(
                        [{"Config": "c.json", "Layers": [f"{long_dir}/layer.tar"]}]
                    ).encode(),
                ),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        [found] = await read(buffer.getvalue(), spool)
        assert found.id == image.id


async def test_reading_is_streaming(tmp_path: Path) -> None:
    """A 24 MB layer passes through in 64 KiB chunks without being held in memory."""
    size = 24 * 1024 * 1024
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB

    def layer_chunks() -> AsyncIterator[bytes]:
        async def gen() -> AsyncIterator[bytes]:
            for _ in range(size // len(block)):
                yield block

        return gen()

    layer_hasher = hashlib.sha256()
    header = tarfile.TarInfo("big")
    header.size = size
    layer_head = header.tobuf(format=tarfile.PAX_FORMAT)
    layer_size = len(layer_head) + size + 1024
    layer_hasher.update(layer_head)
    for _ in range(size // len(block)):
        layer_hasher.update(block)
    layer_hasher.update(bytes(1024))
    diff_id = "sha256:" + layer_hasher.hexdigest()
    config = json.dumps(
        {"os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    ).encode()

    async def layer_tar() -> AsyncIterator[bytes]:
        yield layer_head
        async for chunk in layer_chunks():
            yield chunk
        yield bytes(1024)

    # The archive itself is produced by the streaming writer, then fed back chunk by chunk.
    save = SaveImage(config=config, layers=[SaveLayer(diff_id, layer_size, layer_tar)])

    async def archive_stream() -> AsyncIterator[bytes]:
        # A small queue between writer and reader: at most a few chunks are in flight.
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)

        async def produce() -> None:
            async def put(data: bytes) -> None:
                for start in range(0, len(data), 65536):
                    await queue.put(data[start : start + 65536])

            await write_docker_save(put, [save])
            await queue.put(None)

        task = asyncio.create_task(produce())
        while (item := await queue.get()) is not None:
            yield item
        await task

    tracemalloc.start()
    try:
        [found] = await read_image_archive(archive_stream(), tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found.layers[0].diff_id == diff_id
    assert found.layers[0].size == layer_size
    assert peak < 8 * 1024 * 1024, f"peak traced memory {peak} bytes"


# writing -------------------------------------------------------------------------------


def save_image(image: SampleImage, tags: list[str]) -> SaveImage:
    def opener(layer: bytes):  # type: ignore[no-untyped-def]
        async def open_layer() -> AsyncIterator[bytes]:
            async for chunk in chunked(layer, 1000):
                yield chunk

        return open_layer

    layers = [
        SaveLayer(diff_id=sha256_digest(layer), size=len(layer), open=opener(layer))
        for layer in image.layers
    ]
    return SaveImage(config=image.config, layers=layers, repo_tags=tags)


async def written(images: list[SaveImage]) -> bytes:
    out = bytearray()

    async def write(data: bytes) -> None:
        out.extend(data)

    await write_docker_save(write, images)
    return bytes(out)


async def test_write_docker_save_layout(tmp_path: Path) -> None:
    base = make_image([30, 31])
    child = make_image([30, 31, 32])
    data = await written(
        [
            save_image(base, ["docker.io/library/busybox:latest", "localhost:5000/x:t"]),
            save_image(child, ["busybox@sha256:" + "a" * 64]),
        ]
    )
    assert len(data) % 512 == 0
    assert data.endswith(bytes(1024))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert names == sorted(names)
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        repositories = json.loads(tar.extractfile("repositories").read())  # type: ignore[union-attr]
        assert manifest[0]["Config"] == base.id.split(":")[1] + ".json"
        assert manifest[0]["RepoTags"] == ["busybox:latest", "localhost:5000/x:t"]
        assert manifest[1]["RepoTags"] is None  # a digest is not a tag
        top = manifest[0]["Layers"][-1].split("/")[0]
        assert repositories == {"busybox": {"latest": top}, "localhost:5000/x": {"t": top}}
        assert tar.extractfile(manifest[0]["Config"]).read() == base.config  # type: ignore[union-attr]
        for position, path in enumerate(manifest[0]["Layers"]):
            layer_dir = path.split("/")[0]
            assert tar.getmember(layer_dir).isdir()
            assert tar.extractfile(f"{layer_dir}/VERSION").read() == b"1.0"  # type: ignore[union-attr]
            v1 = json.loads(tar.extractfile(f"{layer_dir}/json").read())  # type: ignore[union-attr]
            assert v1["id"] == layer_dir
            assert ("parent" in v1) == (position > 0)
            assert tar.extractfile(path).read() == base.layers[position]  # type: ignore[union-attr]
        top_json = json.loads(tar.extractfile(f"{top}/json").read())  # type: ignore[union-attr]
        assert top_json["config"] == {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]}
        assert "rootfs" not in top_json
        assert tar.getmember(manifest[0]["Config"]).mtime == 1704164645
        # The child shares the first layers (same chain), so it shares their directories.
        assert manifest[1]["Layers"][:1] == manifest[0]["Layers"][:1]
    images = await read(data, tmp_path)
    assert [image.id for image in images] == [base.id, child.id]
    assert images[0].names == ["docker.io/library/busybox:latest", "localhost:5000/x:t"]
    assert [layer.diff_id for layer in images[1].layers] == child.diff_ids


async def test_write_links_repeated_content(tmp_path: Path) -> None:
    same = make_layer(40)
    image = make_image([40, 41])
    image.layers = [same, make_layer(41), same]
    config = json.loads(image.config)
    config["rootfs"]["diff_ids"] = [sha256_digest(layer) for layer in image.layers]
    image.config = json.dumps(config).encode()
    data = await written([save_image(image, ["r:1"])])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        last = tar.getmember(manifest[0]["Layers"][2])
        assert last.issym()
        assert last.linkname == "../" + manifest[0]["Layers"][0]
    [found] = await read(data, tmp_path)
    assert [layer.diff_id for layer in found.layers] == image.diff_ids


async def test_write_refuses_inconsistent_layers() -> None:
    image = make_image([42])
    good = save_image(image, [])
    short = SaveImage(
        config=image.config,
        layers=[SaveLayer(good.layers[0].diff_id, good.layers[0].size + 10, good.layers[0].open)],
    )
    with pytest.raises(ImageArchiveError, match="expected"):
        await written([short])
    wrong = SaveImage(
        config=image.config, layers=[SaveLayer(sha256_digest(b"x"), 1, good.layers[0].open)]
    )
    with pytest.raises(ValueError, match="do not match its config"):
        await written([wrong])


async def test_gzip_layer_of_an_oci_image_must_match_its_media_type(tmp_path: Path) -> None:
    image = make_image([43], oci=True)
    manifest = json.loads(image.manifest)
    plain = image.layers[0]
    manifest["layers"][0] = descriptor(mediatypes.OCI_LAYER_GZIP, plain)
    image.manifest = json.dumps(manifest).encode()
    builder = TarBuilder().blob(plain).blob(image.config).blob(image.manifest)
    builder.file("index.json", oci_index([descriptor(mediatypes.OCI_MANIFEST, image.manifest)]))
    with pytest.raises(ImageArchiveError, match="uncompressed, but its media type"):
        await read(builder.build(), tmp_path)
    assert gzip_bytes(plain) != plain
