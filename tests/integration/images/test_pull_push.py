"""Pull and push against a real docker-registry, plain and with htpasswd auth."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from daemon.errors import Forbidden, NotFound, SystemError, Unavailable
from daemon.images import mediatypes
from daemon.images.registry.auth import AuthConfig
from daemon.images.registry.client import RegistryClient, Timeouts
from daemon.images.service import ImageService
from libcontainerd.digests import sha256_digest
from libcontainerd.remote.content import WRITE_CHUNK
from libcontainerd.types import Descriptor
from tests.integration.images.conftest import Events, service_in
from tests.integration.images.support import collect, content_of, load_file, run_in_container
from tests.support.containerd import TestContainerd, count_delta
from tests.support.fakeservers import StallingServer
from tests.support.imagefactory import amd64_arm64_index, make_image, push_sample
from tests.support.images import (
    build_image,
    build_layer,
    busybox_entries,
    file_layer,
    write_docker_save,
)
from tests.support.registry import Registry


def noise(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def three_layers(tag: str, big: int = 200_000) -> object:
    layers = [
        build_layer(busybox_entries()),
        file_layer({"etc/motd": f"pulled {tag}\n".encode(), "srv/a": noise(1, big)}),
        file_layer({"srv/b": noise(2, big)}),
    ]
    return build_image(layers, {"Labels": {"origin": tag}})


def statuses(messages: list[dict[str, Any]], layer_id: str) -> list[str]:
    return [m["status"] for m in messages if m.get("id") == layer_id]


async def loaded_and_pushed(
    service: ImageService, tmp_path: Path, name: str, auth: AuthConfig | None = None
) -> tuple[str, list[dict[str, Any]]]:
    archive = tmp_path / "push.tar"
    info = write_docker_save(archive, [name], three_layers(name))  # type: ignore[arg-type]
    await load_file(service, archive)
    messages = await collect(service.push(name, auth=auth))
    return info.id, messages


def other_service(
    containerd: TestContainerd, tmp_path: Path, label: str
) -> AbstractAsyncContextManager[ImageService]:
    """A service in a namespace of its own, beside the `service` fixture's."""
    return service_in(
        containerd, f"moorage-test-images-{label}-{time.monotonic_ns()}", tmp_path / label
    )


async def test_push_then_pull_a_three_layer_image_with_progress(
    service: ImageService, containerd: TestContainerd, registry: Registry, tmp_path: Path
) -> None:
    name = f"{registry.host}/test/three:v1"
    events = Events()
    service.set_event_sink(events)
    image_id, pushed = await loaded_and_pushed(service, tmp_path, name)
    assert pushed[0] == {"status": f"The push refers to repository [{registry.host}/test/three]"}
    image = service.resolve(name)
    for diff_id in image.diff_ids:
        layer_statuses = statuses(pushed, diff_id[7:19])
        assert layer_statuses[0] == "Preparing" and layer_statuses[-1] == "Pushed"
    digest_line = pushed[-2]["status"]
    assert digest_line.startswith("v1: digest: sha256:")
    aux = pushed[-1]["aux"]
    assert aux["Tag"] == "v1" and digest_line == f"v1: digest: {aux['Digest']} size: {aux['Size']}"
    assert service.resolve(name).repo_digests == (f"{registry.host}/test/three@{aux['Digest']}",)
    assert events.seen[-1] == (
        "push",
        name,
        {"origin": name, "name": f"{registry.host}/test/three"},
    )
    # Pushing again finds every layer there.
    again = await collect(service.push(name))
    assert statuses(again, image.diff_ids[0][7:19])[-1] == "Layer already exists"

    async with other_service(containerd, tmp_path, "pull3") as puller:
        started = time.monotonic()
        before = dict(puller.rpc_counts())
        messages = await collect(puller.pull(f"{registry.host}/test/three", "v1"))
        elapsed = time.monotonic() - started
        pull_rpcs = count_delta(before, dict(puller.rpc_counts()))
        print(f"pull of the 3-layer image: {elapsed:.3f}s, RPCs {pull_rpcs}")
        assert messages[0] == {"status": "Pulling from test/three", "id": "v1"}
        pulled = puller.resolve(name)
        for layer in pulled.content.layers:
            seen = statuses(messages, layer.digest[7:19])
            assert seen[0] == "Pulling fs layer"
            assert "Downloading" in seen and "Verifying Checksum" in seen
            assert seen.index("Download complete") < seen.index("Extracting")
            assert seen[-1] == "Pull complete"
        assert messages[-2] == {"status": f"Digest: {aux['Digest']}"}
        assert messages[-1] == {"status": f"Status: Downloaded newer image for {name}"}
        assert pulled.id == image_id
        assert pulled.repo_tags == (name,)
        assert pulled.repo_digests == (f"{registry.host}/test/three@{aux['Digest']}",)
        assert pull_rpcs == {
            "Leases.Create": 1,
            "Snapshots.List": 1,
            "Content.Write": 5,
            "Snapshots.Prepare": 3,
            "Diff.Apply": 3,
            "Snapshots.Commit": 3,
            "Images.Create": 2,
            "Leases.Delete": 1,
        }
        output = await run_in_container(
            containerd, puller.namespace, pulled.chain_id, ["cat", "/etc/motd"]
        )
        assert output == f"pulled {name}\n".encode()
        # Up to date: no containerd RPC at all.
        before = dict(puller.rpc_counts())
        messages = await collect(puller.pull(name))
        assert messages[-1] == {"status": f"Status: Image is up to date for {name}"}
        assert count_delta(before, dict(puller.rpc_counts())) == {}


async def test_registry_with_basic_auth(
    service: ImageService, containerd: TestContainerd, auth_registry: Registry, tmp_path: Path
) -> None:
    creds = AuthConfig(
        username=auth_registry.username,
        password=auth_registry.password,
        serveraddress=auth_registry.host,
    )
    assert (await service.login(creds))["Status"] == "Login Succeeded"
    with pytest.raises(Forbidden):
        await service.login(AuthConfig("alice", "wrong", serveraddress=auth_registry.host))
    name = f"{auth_registry.host}/private/app:v1"
    image_id, pushed = await loaded_and_pushed(service, tmp_path, name, auth=creds)
    assert "aux" in pushed[-1]

    async with other_service(containerd, tmp_path, "authpull") as puller:
        stream = puller.pull(name)
        with pytest.raises(Forbidden, match=r"pull access denied for .*/private/app"):
            await stream.__anext__()
        assert await puller.store.images.list() == []
        await collect(puller.pull(name, auth=creds))
        assert puller.resolve(name).id == image_id


async def test_multi_platform_index_is_pulled_for_the_wanted_platform(
    containerd: TestContainerd, registry: Registry, tmp_path: Path
) -> None:
    amd = make_image([301, 302], oci=True)
    arm = make_image([303], arch="arm64", variant="v8", oci=True)
    index = amd64_arm64_index(amd, arm)
    async with RegistryClient(registry.host, push=True) as client:
        await push_sample(client, "test/multi", amd.manifest_digest, amd)
        await push_sample(client, "test/multi", arm.manifest_digest, arm)
        await client.put_manifest("test/multi", "latest", index, mediatypes.OCI_INDEX)
    name = f"{registry.host}/test/multi:latest"
    async with other_service(containerd, tmp_path, "multi") as svc:
        messages = await collect(svc.pull(name, platform="linux/amd64"))
        assert messages[-2] == {"status": f"Digest: {sha256_digest(index)}"}
        image = svc.resolve(name)
        assert image.id == amd.id and image.architecture == "amd64"
        assert image.content.target.digest == sha256_digest(index)
        assert image.content.manifest.digest == amd.manifest_digest
        assert image.repo_digests == (f"{registry.host}/test/multi@{sha256_digest(index)}",)
        # The other platform's manifest was never fetched into the store.
        contents = {info.digest for info in await content_of(svc).list()}
        assert arm.manifest_digest not in contents and sha256_digest(arm.config) not in contents
        # Same answer after a restart (the record says which manifest was chosen).
        async with service_in(containerd, svc.namespace, tmp_path / "multi-again") as again:
            assert again.resolve(name).id == amd.id
        async with other_service(containerd, tmp_path, "multi-arm") as arm_svc:
            await collect(arm_svc.pull(name, platform="linux/arm64"))
            assert arm_svc.resolve(name).id == arm.id


async def test_unknown_tag_and_repository_are_404s(
    service: ImageService, registry: Registry
) -> None:
    stream = service.pull(f"{registry.host}/test/nothing", "nope")
    with pytest.raises(NotFound) as caught:
        await stream.__anext__()
    assert str(caught.value).startswith(
        f"manifest for {registry.host}/test/nothing:nope not found: manifest unknown"
    ) or "not found" in str(caught.value)


async def pushed_sample(registry: Registry, repository: str, seeds: list[int], size: int) -> Any:
    """An image straight into the registry, never into containerd (whose content store is
    shared by all namespaces: a blob it has is never downloaded again)."""
    sample = make_image(seeds, layer_size=size)
    async with RegistryClient(registry.host, push=True) as client:
        await push_sample(client, repository, "v1", sample)
    return sample


async def test_corrupted_layer_in_the_registry_registers_nothing(
    containerd: TestContainerd, registry: Registry, tmp_path: Path
) -> None:
    sample = await pushed_sample(registry, "test/corrupt", [401, 402, 403], 50_000)
    name = f"{registry.host}/test/corrupt:v1"
    victim = sha256_digest(sample.blobs[2])
    data_path = registry.blob_data_path(victim)
    original = data_path.read_bytes()
    data_path.write_bytes(bytes(b ^ 0xFF for b in original[:100]) + original[100:])
    try:
        async with other_service(containerd, tmp_path, "corrupt") as puller:
            with pytest.raises(
                SystemError, match=f"filesystem layer verification failed for digest {victim}"
            ):
                await collect(puller.pull(name))
            assert await puller.store.images.list() == []
            assert puller.list() == []
            # The bad ingest was dropped: a retry cannot resume into the same wrong digest.
            assert await content_of(puller).status(f"pull-{victim}") is None
            data_path.write_bytes(original)
            await collect(puller.pull(name))
            assert puller.resolve(name).id == sample.id
    finally:
        data_path.write_bytes(original)


async def test_interrupted_pull_leaves_no_image_and_a_retry_reuses_what_was_fetched(
    service: ImageService,
    containerd: TestContainerd,
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Big enough for the broken layer to have written whole chunks to containerd.
    sample = await pushed_sample(registry, "test/resume", [501, 502, 503], 1_000_000)
    name = f"{registry.host}/test/resume:v1"
    image_id = sample.id
    layers = [Descriptor("", sha256_digest(blob), len(blob)) for blob in sample.blobs]
    victim = layers[1]
    fetched: list[tuple[str, int]] = []
    original = RegistryClient.fetch_blob
    broken = {"on": True}

    async def fetch_blob(
        self: RegistryClient, repository: str, digest: str, size: int | None = None, **kw: Any
    ) -> AsyncIterator[bytes]:
        fetched.append((digest, kw.get("offset", 0)))
        sent = 0
        async for chunk in original(self, repository, digest, size, **kw):
            if broken["on"] and digest == victim.digest and sent + len(chunk) > victim.size // 2:
                yield chunk[: victim.size // 2 - sent]
                raise ConnectionResetError("the connection broke")
            sent += len(chunk)
            yield chunk

    monkeypatch.setattr(RegistryClient, "fetch_blob", fetch_blob)
    async with other_service(containerd, tmp_path, "resume") as puller:
        with pytest.raises(ConnectionResetError):
            await collect(puller.pull(name))
        assert await puller.store.images.list() == []
        with pytest.raises(NotFound):
            puller.resolve(name)
        # Cancelled half-way (the client went away): nothing registered either.
        stream = puller.pull(name)
        async for message in stream:
            if message.get("status") == "Download complete":
                break
        await stream.aclose()  # type: ignore[attr-defined]
        assert await puller.store.images.list() == []

        broken["on"] = False
        partial = await content_of(puller).status(f"pull-{victim.digest}")
        assert partial is not None and partial.offset >= WRITE_CHUNK
        fetched.clear()
        await collect(puller.pull(name))
        assert puller.resolve(name).id == image_id
        others = {layer.digest for layer in layers} - {victim.digest}
        # Finished layers are not fetched again; the broken one resumes past its start.
        assert not [d for d, _ in fetched if d in others]
        assert [offset for d, offset in fetched if d == victim.digest] == [partial.offset]


async def test_a_registry_that_hangs_times_out(service: ImageService) -> None:
    server = StallingServer()
    await server.start()
    try:
        service.registry_timeouts = Timeouts(connect=0.5, read_idle=0.5)
        started = time.monotonic()
        stream = service.pull(f"{server.host}/x/y:latest")
        with pytest.raises(Unavailable, match="timeout"):
            await stream.__anext__()
        assert time.monotonic() - started < 10
        assert service.list() == []
    finally:
        await server.close()
