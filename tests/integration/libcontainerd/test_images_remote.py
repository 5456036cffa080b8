"""libcontainerd's image side on a real containerd: content, image records, leases, unpack, GC."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from libcontainerd import gclabels
from libcontainerd.digests import chain_ids, sha256_digest
from libcontainerd.errors import (
    AlreadyExistsError,
    ConflictError,
    LayerDigestMismatchError,
    NotFoundError,
)
from libcontainerd.remote.content import RemoteContentStore
from libcontainerd.remote.imagestore import RemoteImageStore
from libcontainerd.remote.leases import RemoteLeases
from libcontainerd.remote.rpc import Connection
from libcontainerd.remote.unpack import RemoteUnpacker
from libcontainerd.types import (
    LAYER_SIZE_FILTER,
    LAYER_SIZE_LABEL,
    Descriptor,
    ImageRecord,
    LayerSpec,
)
from tests.support.containerd import TestContainerd
from tests.support.images import file_layer

NAMESPACE = "moorage-test-lcd-images"
LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_names = itertools.count()


@pytest_asyncio.fixture
async def conn(containerd: TestContainerd) -> AsyncIterator[Connection]:
    connection = Connection(containerd.address, NAMESPACE)
    try:
        yield connection
    finally:
        await connection.close()


def opener(data: bytes, piece: int = 4096) -> Callable[[int], AsyncIterator[bytes]]:
    async def chunks(offset: int) -> AsyncIterator[bytes]:
        for start in range(offset, len(data), piece):
            yield data[start : start + piece]

    return chunks


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


async def test_write_read_info_labels_and_already_exists(conn: Connection) -> None:
    store = RemoteContentStore(conn)
    data = unique("blob").encode() * 5000
    digest = sha256_digest(data)
    # The lease lasts the whole test: outside one, containerd's GC may take the blob
    # (nothing else refers to it) as soon as it next runs.
    async with RemoteLeases(conn).temporary():
        assert await store.write("w1", digest, len(data), opener(data), labels={"a": "1"})
        # The same blob again: found, not rewritten, and no error.
        assert not await store.write("w2", digest, len(data), opener(data))
        info = await store.info(digest)
        assert (info.digest, info.size, info.labels) == (digest, len(data), {"a": "1"})
        assert b"".join([c async for c in store.read(digest)]) == data
        assert b"".join([c async for c in store.read(digest, offset=10, size=5)]) == data[10:15]
        assert await store.read_blob(digest, limit=len(data)) == data
        with pytest.raises(ValueError):
            await store.read_blob(digest, limit=10)
        updated = await store.update_labels(digest, {"b": "2"})
        assert updated.labels == {"a": "1", "b": "2"}
        await store.delete(digest)
        with pytest.raises(NotFoundError):
            await store.info(digest)


async def test_interrupted_write_resumes_from_where_it_stopped(conn: Connection) -> None:
    store = RemoteContentStore(conn)
    data = unique("resume").encode() * 300_000  # a few MiB: several write chunks
    digest = sha256_digest(data)
    ref = unique("ingest")
    offsets: list[int] = []

    async def failing(offset: int) -> AsyncIterator[bytes]:
        assert offset == 0
        yield data[: 2 * 1024 * 1024 + 100]
        raise ConnectionResetError("source went away")

    async with RemoteLeases(conn).temporary():
        with pytest.raises(ConnectionResetError, match="source went away"):
            await store.write(ref, digest, len(data), failing)
        status = await store.status(ref)
        assert status is not None and status.offset == 2 * 1024 * 1024
        starts: list[int] = []

        async def rest(offset: int) -> AsyncIterator[bytes]:
            starts.append(offset)
            yield data[offset:]

        assert await store.write(ref, digest, len(data), rest, progress=offsets.append)
        assert starts == [2 * 1024 * 1024]
        assert offsets[0] == 2 * 1024 * 1024 and offsets[-1] == len(data)
        # Under the lease: the blob is referenced by nothing else, so GC could take it.
        assert (await store.info(digest)).size == len(data)
        assert await store.status(ref) is None
        await store.delete(digest)


async def test_content_that_does_not_match_its_digest_is_refused_and_discarded(
    conn: Connection,
) -> None:
    store = RemoteContentStore(conn)
    data = b"not what was promised"
    wrong = sha256_digest(b"something else")
    ref = unique("bad")
    async with RemoteLeases(conn).temporary():
        with pytest.raises(ConflictError, match="unexpected commit digest"):
            await store.write(ref, wrong, len(data), opener(data))
    assert await store.status(ref) is None
    with pytest.raises(NotFoundError):
        await store.info(wrong)


async def test_image_records_round_trip(conn: Connection) -> None:
    images = RemoteImageStore(conn)
    name = f"docker.io/library/{unique('rec')}:latest"
    target = Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "a" * 64, 123)
    created = await images.create(ImageRecord(name, target, {"x": "1"}))
    assert created.target == target and created.labels == {"x": "1"}
    assert created.created_at is not None
    with pytest.raises(AlreadyExistsError):
        await images.create(ImageRecord(name, target))
    other = Descriptor(target.media_type, "sha256:" + "b" * 64, 456)
    await images.update(ImageRecord(name, other, {"y": "2"}), fields=["target", "labels.y"])
    got = await images.get(name)
    assert got.target == other and got.labels == {"x": "1", "y": "2"}
    assert name in [r.name for r in await images.list()]
    assert [r.name for r in await images.list(f'name=="{name}"')] == [name]
    await images.delete(name)
    with pytest.raises(NotFoundError):
        await images.get(name)


async def write_layers(conn: Connection, layers: list[bytes], gz: bool) -> list[LayerSpec]:
    store = RemoteContentStore(conn)
    specs = []
    for layer in layers:
        blob = gzip.compress(layer, mtime=0) if gz else layer
        digest = sha256_digest(blob)
        diff_id = sha256_digest(layer)
        await store.write(
            f"layer-{digest}",
            digest,
            len(blob),
            opener(blob),
            labels=gclabels.layer_labels(diff_id),
        )
        specs.append(
            LayerSpec(Descriptor(LAYER_GZIP if gz else LAYER_TAR, digest, len(blob)), diff_id)
        )
    return specs


@pytest.mark.parametrize("gz", [False, True])
async def test_unpack_commits_chain_ids_and_skips_what_is_there(conn: Connection, gz: bool) -> None:
    tag = unique("unpack")
    layers = [
        file_layer({f"{tag}/one": b"1" * 1000}),
        file_layer({f"{tag}/two": b"2" * 2000}),
        file_layer({f"{tag}/three": b"3" * 3000}),
    ]
    unpacker = RemoteUnpacker(conn)
    chain = chain_ids([sha256_digest(layer) for layer in layers])
    async with RemoteLeases(conn).temporary():
        specs = await write_layers(conn, layers, gz)
        applied_order: list[int] = []
        result = await unpacker.unpack(specs[:2], before=lambda i, _: applied_order.append(i))
        assert [r.chain_id for r in result] == chain[:2]
        assert [r.size for r in result] == [len(layers[0]), len(layers[1])]
        assert applied_order == [0, 1]
        # The third layer lands on the two already there: one List, one Prepare/Apply/Commit.
        mid = dict(conn.counts())
        result = await unpacker.unpack(specs)
        assert [(r.applied, r.size) for r in result] == [
            (False, None),
            (False, None),
            (True, len(layers[2])),
        ]
        after = dict(conn.counts())
        # Checked under the lease: nothing else keeps these snapshots from containerd's GC.
        delta = {k: after[k] - mid.get(k, 0) for k in after if after[k] != mid.get(k, 0)}
        assert delta == {
            "Snapshots.List": 1,
            "Snapshots.Prepare": 1,
            "Diff.Apply": 1,
            "Snapshots.Commit": 1,
        }
        infos = {info.name: info for info in await unpacker.snapshots()}
        for index, chain_id in enumerate(chain):
            assert infos[chain_id].kind == "committed"
            assert infos[chain_id].parent == (chain[index - 1] if index else "")
            assert infos[chain_id].labels[LAYER_SIZE_LABEL] == str(len(layers[index]))
        assert await unpacker.committed([*chain, "sha256:" + "0" * 64]) == set(chain)
        # The image store's fill lists only the snapshots with a layer size.
        labelled = {info.name for info in await unpacker.snapshots(LAYER_SIZE_FILTER)}
        assert set(chain) <= labelled
        assert labelled == {n for n, i in infos.items() if LAYER_SIZE_LABEL in i.labels}
        assert not [n for n in infos if n.startswith("extract-")]


async def test_unpack_of_a_layer_with_the_wrong_diff_id_leaves_nothing(conn: Connection) -> None:
    layer = file_layer({unique("wrong"): b"x"})
    async with RemoteLeases(conn).temporary():
        [spec] = await write_layers(conn, [layer], gz=False)
        bad = LayerSpec(spec.blob, sha256_digest(b"another diff id"))
        with pytest.raises(LayerDigestMismatchError):
            await RemoteUnpacker(conn).unpack([bad])
    names = [info.name for info in await RemoteUnpacker(conn).snapshots()]
    assert bad.diff_id not in names and not [n for n in names if n.startswith("extract-")]


async def test_gc_keeps_what_an_image_references_and_reclaims_it_after_delete(
    conn: Connection,
) -> None:
    """The labels alone keep an image alive once its lease is gone; deleting it frees all."""
    store, images, unpacker = RemoteContentStore(conn), RemoteImageStore(conn), RemoteUnpacker(conn)
    tag = unique("gc")
    layers = [file_layer({f"{tag}/a": b"a" * 500}), file_layer({f"{tag}/b": b"b" * 600})]
    diff_ids = [sha256_digest(layer) for layer in layers]
    chain = chain_ids(diff_ids)
    config = f'{{"rootfs":{{"type":"layers","diff_ids":["{diff_ids[0]}","{diff_ids[1]}"]}}}}'
    config_bytes = config.encode()
    config_digest = sha256_digest(config_bytes)
    name = f"docker.io/library/{tag}:latest"
    leases = RemoteLeases(conn)
    lease_id = await leases.create()
    with conn.lease(lease_id):
        specs = await write_layers(conn, layers, gz=True)
        await unpacker.unpack(specs)
        await store.write(
            f"config-{config_digest}",
            config_digest,
            len(config_bytes),
            opener(config_bytes),
            labels=gclabels.config_labels("overlayfs", chain[-1]),
        )
        manifest = (
            '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
            f'"config":{{"mediaType":"application/vnd.docker.container.image.v1+json",'
            f'"digest":"{config_digest}","size":{len(config_bytes)}}},"layers":['
            + ",".join(
                f'{{"mediaType":"{s.blob.media_type}","digest":"{s.blob.digest}","size":{s.blob.size}}}'
                for s in specs
            )
            + "]}"
        ).encode()
        manifest_digest = sha256_digest(manifest)
        await store.write(
            f"manifest-{manifest_digest}",
            manifest_digest,
            len(manifest),
            opener(manifest),
            labels=gclabels.manifest_labels(config_digest, [s.blob.digest for s in specs]),
        )
        await images.create(
            ImageRecord(
                name,
                Descriptor(
                    "application/vnd.docker.distribution.manifest.v2+json",
                    manifest_digest,
                    len(manifest),
                ),
            )
        )
    everything = [manifest_digest, config_digest, *(s.blob.digest for s in specs)]
    await leases.delete(lease_id, sync=True)
    for digest in everything:
        await store.info(digest)
    assert set(chain) <= {info.name for info in await unpacker.snapshots()}

    await images.delete(name, sync=True)
    for digest in everything:
        with pytest.raises(NotFoundError):
            await store.info(digest)
    assert not set(chain) & {info.name for info in await unpacker.snapshots()}


async def test_lease_header_is_sent_only_inside_the_block(conn: Connection) -> None:
    store = RemoteContentStore(conn)
    leases = RemoteLeases(conn)
    data = unique("lease").encode()
    digest = sha256_digest(data)
    lease_id = await leases.create()
    with conn.lease(lease_id):
        assert conn.current_lease == lease_id
        await store.write("lease-1", digest, len(data), opener(data))
    assert conn.current_lease is None
    # Without the lease nothing references the blob: a synchronous GC reclaims it.
    await leases.delete(lease_id, sync=True)
    with pytest.raises(NotFoundError):
        await store.info(digest)
