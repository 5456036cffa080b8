"""The registry client against a real distribution registry (Debian's docker-registry)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from daemon.images import mediatypes
from daemon.images.manifest import Descriptor, Index, Manifest, select_manifest
from daemon.images.platforms import parse_platform
from daemon.images.registry.auth import AuthConfig
from daemon.images.registry.client import PushOutcome, RegistryClient, Timeouts
from daemon.images.registry.concurrency import gather_limited
from daemon.images.registry.errors import (
    DigestMismatchError,
    RegistryAuthError,
    RegistryConnectionError,
    RegistryNotFoundError,
    RegistryTimeoutError,
)
from daemon.images.registry.login import LOGIN_SUCCEEDED, login
from libcontainerd.digests import sha256_digest
from tests.support.fakeservers import StallingServer, TokenProxy
from tests.support.imagefactory import (
    amd64_arm64_index,
    make_image,
    opener,
    push_sample,
)
from tests.support.images import descriptor
from tests.support.registry import Registry, free_port

FAST = Timeouts(connect=5, read_idle=10)


async def fetch_all(client: RegistryClient, repo: str, digest: str, size: int) -> bytes:
    return b"".join([chunk async for chunk in client.fetch_blob(repo, digest, size)])


async def test_ping_picks_plain_http_for_a_loopback_registry(registry: Registry) -> None:
    async with RegistryClient(registry.host, timeouts=FAST) as client:
        endpoint = await client.ping()
        assert endpoint.base_url == f"http://{registry.host}"
        assert client.authenticator.challenge is None


async def test_push_and_pull_a_multi_layer_image(registry: Registry) -> None:
    image = make_image([101, 102, 103], layer_size=12000)
    async with RegistryClient(registry.host, timeouts=FAST, push=True) as client:
        digest = await push_sample(client, "test/multi", "v1", image)
        assert digest == image.manifest_digest
        # Pushing again finds everything in place.
        for blob in image.blobs:
            outcome = await client.push_blob(
                "test/multi", sha256_digest(blob), len(blob), opener(blob)
            )
            assert outcome is PushOutcome.EXISTS

    async with RegistryClient(registry.host, timeouts=FAST) as client:
        fetched = await client.get_manifest("test/multi", "v1")
        assert fetched.digest == image.manifest_digest
        assert fetched.media_type == mediatypes.DOCKER_MANIFEST
        assert fetched.data == image.manifest
        manifest = fetched.parse()
        assert isinstance(manifest, Manifest)
        by_digest = await client.get_manifest("test/multi", fetched.digest)
        assert by_digest.data == image.manifest
        head = await client.head_manifest("test/multi", "v1")
        assert head is not None
        assert (head.digest, head.size, head.media_type) == (
            fetched.digest,
            len(image.manifest),
            mediatypes.DOCKER_MANIFEST,
        )
        config = await fetch_all(client, "test/multi", manifest.config.digest, manifest.config.size)
        assert config == image.config
        for desc, blob in zip(manifest.layers, image.blobs, strict=True):
            assert await fetch_all(client, "test/multi", desc.digest, desc.size) == blob
            assert await client.blob_exists("test/multi", desc.digest) == len(blob)
        assert await client.blob_exists("test/multi", sha256_digest(b"nope")) is None
        assert await client.head_manifest("test/multi", "nosuch") is None
        with pytest.raises(RegistryNotFoundError) as caught:
            await client.get_manifest("test/multi", "nosuch")
        assert str(caught.value) == "manifest unknown: manifest unknown"
        assert caught.value.code == "MANIFEST_UNKNOWN"


async def test_download_to_file_and_resume(registry: Registry, tmp_path: Path) -> None:
    image = make_image([111], layer_size=300_000)
    blob = image.blobs[0]
    desc = descriptor(mediatypes.DOCKER_LAYER_GZIP, blob)
    async with RegistryClient(registry.host, timeouts=FAST, push=True) as client:
        await client.push_blob("test/resume", sha256_digest(blob), len(blob), opener(blob))
        d = Descriptor.model_validate(desc)
        dest = tmp_path / "blob"
        # A partial file from an earlier, interrupted attempt is continued, not restarted.
        dest.write_bytes(blob[: len(blob) // 3])
        seen: list[int] = []
        await client.download_blob("test/resume", d, dest, progress=seen.append)
        assert dest.read_bytes() == blob
        assert seen[0] > len(blob) // 3 and seen[-1] == len(blob)
        # A complete, correct file is not fetched again.
        seen.clear()
        await client.download_blob("test/resume", d, dest, progress=seen.append)
        assert seen == [len(blob)]
        # A partial file with wrong bytes fails verification and is thrown away.
        dest.write_bytes(b"\x00" * 1000)
        with pytest.raises(DigestMismatchError, match="failed verification"):
            await client.download_blob("test/resume", d, dest)
        assert not dest.exists()
        await client.download_blob("test/resume", d, dest)
        assert dest.read_bytes() == blob


async def test_manifest_list_with_two_platforms(registry: Registry) -> None:
    amd = make_image([121, 122], oci=True)
    arm = make_image([123], arch="arm64", variant="v8", oci=True)
    index = amd64_arm64_index(amd, arm)
    async with RegistryClient(registry.host, timeouts=FAST, push=True) as client:
        await push_sample(client, "test/multiarch", amd.manifest_digest, amd)
        await push_sample(client, "test/multiarch", arm.manifest_digest, arm)
        index_digest = await client.put_manifest(
            "test/multiarch", "latest", index, mediatypes.OCI_INDEX
        )
        assert index_digest == sha256_digest(index)

    async with RegistryClient(registry.host, timeouts=FAST) as client:
        fetched = await client.get_manifest("test/multiarch", "latest")
        assert fetched.media_type == mediatypes.OCI_INDEX
        assert fetched.digest == index_digest
        parsed = fetched.parse()
        assert isinstance(parsed, Index)
        chosen = select_manifest(parsed, parse_platform("linux/amd64"))
        assert chosen.digest == amd.manifest_digest
        platform_manifest = await client.get_manifest("test/multiarch", chosen.digest)
        assert platform_manifest.data == amd.manifest
        parsed_manifest = platform_manifest.parse()
        assert isinstance(parsed_manifest, Manifest)
        config = await fetch_all(
            client, "test/multiarch", parsed_manifest.config.digest, parsed_manifest.config.size
        )
        assert json.loads(config)["architecture"] == "amd64"
        on_arm = select_manifest(parsed, parse_platform("linux/aarch64"))
        assert on_arm.digest == arm.manifest_digest


async def test_cross_repository_mount(registry: Registry) -> None:
    blob = make_image([131]).blobs[0]
    other = make_image([132]).blobs[0]
    async with RegistryClient(registry.host, timeouts=FAST, push=True) as client:
        await client.push_blob("test/source", sha256_digest(blob), len(blob), opener(blob))
        assert await client.mount_blob("test/target", sha256_digest(blob), "test/source")
        assert await client.blob_exists("test/target", sha256_digest(blob)) == len(blob)
        # Mounting what the source does not have falls back to an upload.
        assert not await client.mount_blob("test/target2", sha256_digest(other), "test/source")
        outcome = await client.push_blob(
            "test/target2",
            sha256_digest(other),
            len(other),
            opener(other),
            mount_from=["test/source"],
        )
        assert outcome is PushOutcome.PUSHED
        outcome = await client.push_blob(
            "test/target3", sha256_digest(blob), len(blob), opener(blob), mount_from=["test/source"]
        )
        assert outcome is PushOutcome.MOUNTED
        assert await fetch_all(client, "test/target3", sha256_digest(blob), len(blob)) == blob


async def test_corrupted_blob_in_the_registry_is_detected(registry: Registry) -> None:
    blob = make_image([141], layer_size=20000).blobs[0]
    digest = sha256_digest(blob)
    async with RegistryClient(registry.host, timeouts=FAST, push=True) as client:
        await client.push_blob("test/corrupt", digest, len(blob), opener(blob))
        stored = registry.blob_data_path(digest)
        assert stored.read_bytes() == blob
        stored.write_bytes(bytes(reversed(blob)))  # same size, other bytes
        with pytest.raises(DigestMismatchError) as caught:
            await fetch_all(client, "test/corrupt", digest, len(blob))
        actual = sha256_digest(bytes(reversed(blob)))
        assert str(caught.value) == (
            f"blob {digest} from test/corrupt failed verification: its content has digest {actual}"
        )
        stored.write_bytes(blob[:100])
        with pytest.raises(DigestMismatchError, match=f"sent 100 bytes, expected {len(blob)}"):
            await fetch_all(client, "test/corrupt", digest, len(blob))
        stored.write_bytes(blob)


async def test_upload_of_content_that_does_not_match_its_digest(registry: Registry) -> None:
    blob = b"real content" * 100
    async with RegistryClient(registry.host, timeouts=FAST, push=True) as client:
        with pytest.raises(DigestMismatchError, match="the content read has digest"):
            await client.push_blob(
                "test/badpush", sha256_digest(b"claimed"), len(blob), opener(blob)
            )
        assert await client.blob_exists("test/badpush", sha256_digest(b"claimed")) is None


async def test_server_that_never_answers_times_out() -> None:
    server = StallingServer()
    await server.start()
    try:
        started = time.monotonic()
        async with RegistryClient(
            server.host, timeouts=Timeouts(connect=0.5, read_idle=0.5)
        ) as client:
            with pytest.raises(RegistryTimeoutError) as caught:
                await client.ping()
        assert time.monotonic() - started < 5
        message = str(caught.value)
        assert message.startswith(f'Get "http://{server.host}/v2/": timeout: ')
        assert "sent nothing for 0.5s" in message
    finally:
        await server.close()


async def test_blob_that_stalls_midway_times_out() -> None:
    server = StallingServer(stall_after_headers=True)
    await server.start()
    try:
        async with RegistryClient(
            server.host, timeouts=Timeouts(connect=0.5, read_idle=0.5)
        ) as client:
            received = 0
            with pytest.raises(RegistryTimeoutError, match=r"sent nothing for 0\.5s"):
                async for chunk in client.fetch_blob("x/y", sha256_digest(b"z"), 100000):
                    received += len(chunk)
            assert received == 1000
    finally:
        await server.close()


async def test_connection_refused_is_a_clear_error() -> None:
    port = free_port()
    async with RegistryClient(f"127.0.0.1:{port}", timeouts=FAST) as client:
        with pytest.raises(RegistryConnectionError, match=f'Get "http://127.0.0.1:{port}/v2/": '):
            await client.ping()


# basic auth (htpasswd) ----------------------------------------------------------------


async def test_basic_auth_registry(auth_registry: Registry) -> None:
    creds = AuthConfig(
        username=auth_registry.username,
        password=auth_registry.password,
        serveraddress=auth_registry.host,
    )
    result = await login(creds, timeouts=FAST)
    assert result.status == LOGIN_SUCCEEDED == "Login Succeeded"

    wrong = AuthConfig(username="alice", password="wrong", serveraddress=auth_registry.host)
    with pytest.raises(RegistryAuthError) as caught:
        await login(wrong, timeouts=FAST)
    assert str(caught.value) == (
        f"login attempt to http://{auth_registry.host}/v2/ failed with status: 401 Unauthorized"
    )

    image = make_image([151, 152])
    async with RegistryClient(
        auth_registry.host, credentials=creds, timeouts=FAST, push=True
    ) as client:
        await push_sample(client, "private/app", "v1", image)
        assert client.authenticator.challenge is not None
        assert client.authenticator.challenge.scheme == "basic"
        fetched = await client.get_manifest("private/app", "v1")
        assert fetched.digest == image.manifest_digest

    async with RegistryClient(auth_registry.host, timeouts=FAST) as anonymous:
        with pytest.raises(RegistryAuthError) as denied:
            await anonymous.get_manifest("private/app", "v1")
        assert "unauthorized: authentication required" in str(denied.value)
        assert denied.value.status == 401


# bearer tokens (a token server in front of the real registry) --------------------------


@pytest.fixture
async def token_proxy(registry: Registry) -> AsyncIterator[TokenProxy]:
    proxy = TokenProxy(upstream=f"http://{registry.host}")
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


async def test_bearer_token_flow(token_proxy: TokenProxy) -> None:
    creds = AuthConfig(username=token_proxy.username, password=token_proxy.password)
    image = make_image([161, 162])
    async with RegistryClient(
        token_proxy.host, credentials=creds, timeouts=FAST, push=True
    ) as client:
        await push_sample(client, "team/app", "v1", image)
        assert client.authenticator.challenge is not None
        assert client.authenticator.challenge.scheme == "bearer"
        assert client.authenticator.challenge.params["service"] == "moorage-test-registry"
    push_scopes: set[tuple[str, ...]] = {
        tuple(r["scopes"])  # type: ignore[arg-type]
        for r in token_proxy.token_requests
    }
    assert ("repository:team/app:pull,push",) in push_scopes
    # One token serves every request of the same scope: no token request per blob.
    assert len(token_proxy.token_requests) <= 3

    token_proxy.token_requests.clear()
    async with RegistryClient(token_proxy.host, timeouts=FAST) as anonymous:
        fetched = await anonymous.get_manifest("team/app", "v1")
        assert fetched.digest == image.manifest_digest
        manifest = fetched.parse()
        assert isinstance(manifest, Manifest)
        assert (
            await fetch_all(anonymous, "team/app", manifest.config.digest, manifest.config.size)
            == image.config
        )
        with pytest.raises(RegistryAuthError, match="authentication required"):
            await anonymous.put_manifest(
                "team/app", "v2", image.manifest, mediatypes.DOCKER_MANIFEST
            )
    assert token_proxy.token_requests[0] == {
        "method": "GET",
        "scopes": ["repository:team/app:pull"],
        "service": "moorage-test-registry",
    }


async def test_bearer_login_and_identity_token(token_proxy: TokenProxy) -> None:
    creds = AuthConfig(
        username=token_proxy.username,
        password=token_proxy.password,
        serveraddress=f"http://{token_proxy.host}/",
    )
    result = await login(creds, timeouts=FAST)
    assert result.status == "Login Succeeded"
    assert result.identity_token

    with_token = AuthConfig(identitytoken=result.identity_token, serveraddress=token_proxy.host)
    again = await login(with_token, timeouts=FAST)
    assert again.status == "Login Succeeded"
    assert token_proxy.token_requests[-1]["grant_type"] == "refresh_token"

    wrong = AuthConfig(username="bob", password="nope", serveraddress=token_proxy.host)
    with pytest.raises(RegistryAuthError) as caught:
        await login(wrong, timeouts=FAST)
    assert str(caught.value) == (
        f'Get "http://{token_proxy.host}/token": unauthorized: incorrect username or password'
    )
    with pytest.raises(RegistryAuthError, match="username and password required"):
        await login(AuthConfig(serveraddress=token_proxy.host), timeouts=FAST)


async def test_gather_limited_bounds_concurrency_and_stops_on_error() -> None:
    running = 0
    peak = 0

    async def job(value: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        if value == 99:
            raise ValueError("boom")
        return value * 2

    results = await gather_limited(3, [lambda v=v: job(v) for v in range(10)])  # type: ignore[misc]
    assert results == [v * 2 for v in range(10)]
    assert peak == 3
    with pytest.raises(ValueError, match="boom"):
        await gather_limited(2, [lambda v=v: job(v) for v in (1, 99, 2, 3)])  # type: ignore[misc]
