"""libcontainerd clients of either backend for contract tests: `remote` on the session's
containerd, `local` on runc alone, each with the busybox image's layer unpacked and ready
to be a container's parent snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from libcontainerd.local import LocalClient
from libcontainerd.types import Client, Descriptor, LayerSpec, RuntimeSpec
from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.images import busybox_image
from tests.support.lcd import SHIM_V2, RecordingBackend, connected

BACKENDS = ("remote", "local")
LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar"


@dataclass
class World:
    """A backend for a contract test: how to connect to it (again, for a restart), the
    runtime to run containers with, and the busybox image's top chain ID (a container's
    parent snapshot)."""

    name: str
    parent: str
    runtime: RuntimeSpec
    connect: Callable[[], AbstractAsyncContextManager[tuple[Client, RecordingBackend]]]


async def load_busybox(client: Client) -> str:
    """Writes busybox's layer into the client's content store and unpacks it (through the
    Protocols, as the image service does); its chain ID."""
    image = busybox_image()
    [layer] = image.layers
    [diff_id] = image.diff_ids
    stores = client.image_stores()

    async def source(offset: int) -> AsyncIterator[bytes]:
        yield layer[offset:]

    blob = Descriptor(LAYER_MEDIA_TYPE, diff_id, len(layer))
    await stores.content.write(f"test-{diff_id}", diff_id, len(layer), source)
    [unpacked] = await stores.unpacker.unpack([LayerSpec(blob, diff_id)])
    return unpacked.chain_id


@asynccontextmanager
async def local_client(root: Path) -> AsyncIterator[tuple[Client, RecordingBackend]]:
    """A LocalClient whose records and images are under `root/data`, bundles under
    `root/state`: the same `root` again is a restart."""
    backend = RecordingBackend()
    client = await LocalClient.start(root / "data", root / "state", backend)
    try:
        yield client, backend
    finally:
        await client.close()


@asynccontextmanager
async def remote_client(
    containerd: TestContainerd,
) -> AsyncIterator[tuple[Client, RecordingBackend]]:
    async with connected(containerd) as (client, backend):
        yield client, backend


async def make_world(
    name: str, containerd: TestContainerd, image: ImportedImage, root: Path
) -> World:
    if name == "remote":
        return World(
            name,
            image.info.chain_ids[-1],
            RuntimeSpec(SHIM_V2, root=str(containerd.workdir / "runc")),
            lambda: remote_client(containerd),
        )
    async with local_client(root) as (client, _):
        parent = await load_busybox(client)
    return World(
        name, parent, RuntimeSpec(SHIM_V2, root=str(root / "runc")), lambda: local_client(root)
    )
