"""`docker pull`: a registry image into containerd, with dockerd's progress messages.

The manifest (and the platform's manifest below an index) and the config come
first; then the layers download three at a time straight into containerd's
content store, which checks each digest at commit, while they are unpacked in
order as they complete. Only when everything is in place are the names
recorded, so a pull that fails or is cancelled leaves no image behind.

What it did fetch stays under the pull's lease (one per reference, expiring
after a day), including a half-written layer: the same pull, tried again, takes
the lease over, finds the finished blobs in the store and resumes the partial
one where it stopped. A successful pull drops the lease.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from daemon.images import progress
from daemon.images.errors import ImageStoreError, InvalidImageReference, from_registry
from daemon.images.image import ImageContent, build_content
from daemon.images.manifest import (
    MAX_CONFIG_SIZE,
    Index,
    Manifest,
    ManifestError,
    select_manifest,
)
from daemon.images.names import record_name
from daemon.images.platforms import (
    InvalidPlatformError,
    PlatformSpec,
    host_platform,
    parse_platform,
)
from daemon.images.reference import (
    InvalidReferenceError,
    Reference,
    parse_normalized_named,
    reference_with_tag_param,
    short_id,
)
from daemon.images.registry.client import FetchedManifest, RegistryClient
from daemon.images.registry.errors import (
    RegistryConnectionError,
    RegistryError,
    RegistryTimeoutError,
)
from daemon.images.streaming import run_streaming
from libcontainerd import gclabels
from libcontainerd.errors import ConflictError
from libcontainerd.types import Descriptor, LayerSpec

if TYPE_CHECKING:
    from daemon.images.service import ImageService

log = logging.getLogger(__name__)

# A failed layer download waits 5 s before its second attempt, 10 s before its third, ...
# (dockerd's steps), up to the daemon's max-download-attempts.
RETRY_STEP = 5

Emit = Callable[[dict[str, Any]], None]
PULL_LEASE_EXPIRY = timedelta(hours=24)


def pull_image(
    svc: ImageService, from_image: str, tag: str, *, platform: str, auth: Any
) -> AsyncIterator[dict[str, Any]]:
    try:
        ref = reference_with_tag_param(parse_normalized_named(from_image), tag).with_default_tag()
        want = parse_platform(platform) if platform else host_platform()
    except (InvalidReferenceError, InvalidPlatformError) as exc:
        raise InvalidImageReference(str(exc)) from None
    return run_streaming(lambda emit: _Pull(svc, ref, want, auth, emit).run())


def lease_id(ref: Reference) -> str:
    return "moorage-pull-" + hashlib.sha256(str(ref).encode()).hexdigest()[:24]


class _Pull:
    def __init__(
        self, svc: ImageService, ref: Reference, want: PlatformSpec, auth: Any, emit: Emit
    ) -> None:
        self.svc = svc
        self.ref = ref
        self.want = want
        self.auth = auth
        self.emit = emit
        self.repository = ref.path

    async def run(self) -> None:
        # The same reference pulled twice at once shares one lease: one at a time.
        async with self.svc.pull_lock(str(self.ref)):
            try:
                async with RegistryClient(
                    self.ref.domain,
                    config=self.svc.registry_config,
                    credentials=self.auth,
                    timeouts=self.svc.registry_timeouts,
                ) as client:
                    await self._pull(client)
            except (RegistryError, ManifestError) as exc:
                raise from_registry(exc, self.ref.familiar(), self.ref.familiar_name) from None
        self.svc.event("pull", self.ref.familiar(), self.ref.familiar_name)

    async def _pull(self, client: RegistryClient) -> None:
        ref = self.ref
        tag_or_digest = ref.digest or ref.tag or ""
        top = await client.get_manifest(self.repository, tag_or_digest)
        # dockerd names the repository by its path alone: `library/busybox`, `team/app`.
        self.emit(progress.pulling_from(ref.path, tag_or_digest))
        parsed = top.parse()
        fetched, index_bytes = top, None
        if isinstance(parsed, Index):
            chosen = select_manifest(parsed, self.want)
            fetched = await client.get_manifest(self.repository, chosen.digest)
            index_bytes = top.data
        manifest = fetched.parse()
        if not isinstance(manifest, Manifest):
            raise ManifestError(f"{fetched.digest}: nested indexes are not supported")
        target = _descriptor(top)
        name = record_name(ref)
        existing = self.svc.cache.records.get(name)
        if (
            existing is not None
            and existing.target.digest == target.digest
            and (target.digest in self.svc.cache.contents)
        ):
            self._finish(target.digest, updated=False)
            return
        config = await self._config(client, manifest)
        content = build_content(
            target, _descriptor(fetched), fetched.data, manifest, config, index_bytes
        )
        store = self.svc.store
        lease = await store.leases.create(lease_id(ref), expire=PULL_LEASE_EXPIRY, exist_ok=True)
        with store.leases.use(lease):
            await self._layers(client, content)
            await self._metadata(content, parsed, top)
            async with self.svc.lock:
                await self.svc.name_image(ref, content)
                if ref.tag is not None:
                    await self.svc.name_image(
                        Reference(ref.domain, ref.path, digest=target.digest), content
                    )
        await store.leases.delete(lease)
        self._finish(target.digest, updated=True)

    def _finish(self, digest: str, *, updated: bool) -> None:
        self.emit(progress.digest_line(digest))
        self.emit(progress.pull_result(self.ref.familiar(), updated=updated))

    async def _config(self, client: RegistryClient, manifest: Manifest) -> bytes:
        digest = manifest.config.digest
        for content in self.svc.cache.contents.values():
            if content.config_digest == digest:
                return content.config_bytes
        if manifest.config.size > MAX_CONFIG_SIZE:
            raise ManifestError(f"image config {digest} is too large")
        data = bytearray()
        async for chunk in client.fetch_blob(self.repository, digest, manifest.config.size):
            data += chunk
        return bytes(data)

    async def _layers(self, client: RegistryClient, content: ImageContent) -> None:
        svc, store = self.svc, self.svc.store
        chain = content.chain_ids
        present = await store.unpacker.committed(chain)
        known = {layer.digest for c in svc.cache.contents.values() for layer in c.layers}
        skip = [
            layer.digest in known and chain_id in present
            for layer, chain_id in zip(content.layers, chain, strict=True)
        ]
        for layer, skipped in zip(content.layers, skip, strict=True):
            action = progress.ALREADY_EXISTS if skipped else progress.PULLING_FS_LAYER
            self.emit(progress.layer_progress_message(short_id(layer.digest), action))
        gate = asyncio.Semaphore(svc.registry_config.max_concurrent_downloads)
        downloads = {
            index: asyncio.create_task(self._download(client, gate, layer, diff_id))
            for index, (layer, diff_id, skipped) in enumerate(
                zip(content.layers, content.diff_ids, skip, strict=True)
            )
            if not skipped
        }
        try:
            sizes = []
            for index, layer in enumerate(content.layers):
                if index in downloads:
                    await downloads[index]
                if skip[index] or chain[index] in present:
                    continue
                layer_id = short_id(layer.digest)
                self.emit(
                    progress.layer_progress_message(
                        layer_id, progress.EXTRACTING, layer.size, layer.size
                    )
                )
                size = await store.unpacker.apply_layer(
                    LayerSpec(layer, content.diff_ids[index]),
                    chain[index],
                    chain[index - 1] if index else "",
                )
                sizes.append((chain[index], size))
                self.emit(progress.layer_progress_message(layer_id, progress.PULL_COMPLETE))
            svc.cache.put_layer_sizes(sizes)
        finally:
            for task in downloads.values():
                task.cancel()
            await asyncio.gather(*downloads.values(), return_exceptions=True)

    async def _download(
        self, client: RegistryClient, gate: asyncio.Semaphore, layer: Descriptor, diff_id: str
    ) -> None:
        layer_id = short_id(layer.digest)
        if gate.locked():
            self.emit(progress.layer_progress_message(layer_id, progress.WAITING))
        async with gate, self.svc.blob_lock(layer.digest):
            throttle = progress.ProgressThrottle()
            verifying = False

            def report(offset: int) -> None:
                nonlocal verifying
                if offset and throttle.due(offset, layer.size):
                    self.emit(
                        progress.layer_progress_message(
                            layer_id, progress.DOWNLOADING, offset, layer.size
                        )
                    )
                if offset >= layer.size and not verifying:
                    verifying = True
                    self.emit(
                        progress.layer_progress_message(layer_id, progress.VERIFYING_CHECKSUM)
                    )

            def source(offset: int) -> AsyncIterator[bytes]:
                return client.fetch_blob(
                    self.repository, layer.digest, layer.size, offset=offset, verify=False
                )

            attempt = 1
            try:
                while True:
                    try:
                        await self.svc.store.put_blob(
                            layer,
                            source,
                            labels=gclabels.layer_labels(diff_id),
                            ref_prefix="pull",
                            progress=report,
                        )
                        break
                    except (RegistryConnectionError, RegistryTimeoutError) as exc:
                        if attempt >= self.svc.registry_config.max_download_attempts:
                            raise
                        log.info("download of %s failed (attempt %d): %s", layer_id, attempt, exc)
                        await self._wait_to_retry(layer_id, RETRY_STEP * attempt)
                        attempt += 1
            except ConflictError:
                raise ImageStoreError(
                    f"filesystem layer verification failed for digest {layer.digest}"
                ) from None
            self.emit(progress.layer_progress_message(layer_id, progress.DOWNLOAD_COMPLETE))

    async def _wait_to_retry(self, layer_id: str, seconds: int) -> None:
        """dockerd's countdown before a layer download is tried again."""
        for left in range(seconds, 0, -1):
            text = f"Retrying in {left} second{'s' if left != 1 else ''}"
            self.emit(progress.layer_progress_message(layer_id, text))
            await asyncio.sleep(1)  # the countdown's tick, not a wait for some state

    async def _metadata(
        self, content: ImageContent, parsed: Manifest | Index, top: FetchedManifest
    ) -> None:
        """Config, manifest and index, each labelled with what it references for the GC."""
        store = self.svc.store
        blobs: list[tuple[Descriptor, bytes, dict[str, str]]] = [
            (
                # The content store keys blobs by digest alone: the media type is not needed.
                Descriptor("", content.config_digest, len(content.config_bytes)),
                content.config_bytes,
                gclabels.config_labels(
                    store.snapshotter, content.chain_ids[-1] if content.chain_ids else ""
                ),
            ),
            (
                content.manifest,
                content.manifest_bytes,
                gclabels.manifest_labels(
                    content.config_digest, [layer.digest for layer in content.layers]
                ),
            ),
        ]
        if isinstance(parsed, Index):
            blobs.append(
                (
                    _descriptor(top),
                    top.data,
                    gclabels.index_labels([m.digest for m in parsed.manifests]),
                )
            )
        for desc, data, labels in blobs:
            await store.put_blob(desc, _bytes(data), labels=labels, ref_prefix="pull", relabel=True)


def _descriptor(fetched: FetchedManifest) -> Descriptor:
    return Descriptor(fetched.media_type, fetched.digest, len(fetched.data))


def _bytes(data: bytes) -> Callable[[int], AsyncIterator[bytes]]:
    async def chunks(offset: int) -> AsyncIterator[bytes]:
        yield data[offset:]

    return chunks
