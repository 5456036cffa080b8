"""`docker push`: an image's blobs and manifest from containerd to a registry.

A name without a tag pushes every tag of that repository, as dockerd does.
Layers go up five at a time, each skipped when the registry has it already;
then the config and the manifest. The pushed manifest's digest becomes a repo
digest of the image (a `name@digest` record), as after a pull.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from daemon.images import progress
from daemon.images.errors import (
    ImageStoreError,
    NoSuchImage,
    RegistryDenied,
    RegistryNotFound,
    RegistryUnavailable,
)
from daemon.images.image import Image
from daemon.images.manifest import MAX_MANIFEST_SIZE
from daemon.images.names import is_tag, named_with_tag, reference_of
from daemon.images.reference import (
    Reference,
    short_id,
)
from daemon.images.registry.client import PushOutcome, RegistryClient
from daemon.images.registry.errors import (
    RegistryAuthError,
    RegistryConnectionError,
    RegistryError,
    RegistryNotFoundError,
    RegistryTimeoutError,
)
from daemon.images.streaming import run_streaming
from libcontainerd.types import Descriptor

if TYPE_CHECKING:
    from daemon.images.service import ImageService

Emit = Callable[[dict[str, Any]], None]


def push_image(
    svc: ImageService, name: str, tag: str, *, auth: Any
) -> AsyncIterator[dict[str, Any]]:
    ref = named_with_tag(name, tag)
    tags = _tags(svc, ref)
    return run_streaming(lambda emit: _push(svc, ref, tags, auth, emit))


def _tags(svc: ImageService, ref: Reference) -> list[tuple[Reference, Image]]:
    """The tags to push with their images: the one given, or all of the repository."""
    found: list[tuple[Reference, Image]] = []
    for name in sorted(svc.cache.records):
        named = reference_of(name)
        image_id = svc.cache.id_of_record(name)
        if named is None or image_id is None or not is_tag(named) or named.name != ref.name:
            continue
        if ref.tag is None or named.tag == ref.tag:
            found.append((named, svc.cache.image(image_id)))
    if not found:
        if ref.tag is None:
            raise NoSuchImage(f"An image does not exist locally with the tag: {ref.familiar_name}")
        raise NoSuchImage(ref)
    return found


async def _push(
    svc: ImageService,
    ref: Reference,
    tags: list[tuple[Reference, Image]],
    auth: Any,
    emit: Emit,
) -> None:
    emit(progress.push_refers_to(ref.name))
    try:
        async with RegistryClient(
            ref.domain,
            config=svc.registry_config,
            credentials=auth,
            timeouts=svc.registry_timeouts,
            push=True,
        ) as client:
            for tagged, image in tags:
                digest, size = await _push_one(svc, client, tagged, image, emit)
                assert tagged.tag is not None  # _tags keeps tagged names only
                for message in progress.push_result(tagged.tag, digest, size):
                    emit(message)
                async with svc.lock:
                    manifest = image.content
                    await svc.name_image(
                        Reference(tagged.domain, tagged.path, digest=digest),
                        manifest if manifest.target.digest == digest else _manifest_only(image),
                    )
                svc.event("push", tagged.familiar(), tagged.familiar_name)
    except RegistryAuthError as exc:
        raise RegistryDenied(str(exc)) from None
    except (RegistryTimeoutError, RegistryConnectionError) as exc:
        raise RegistryUnavailable(str(exc)) from None
    except RegistryNotFoundError as exc:
        raise RegistryNotFound(str(exc)) from None
    except RegistryError as exc:
        raise ImageStoreError(str(exc)) from None


def _manifest_only(image: Image) -> Any:
    """The image's content as a record pointing at its platform manifest would see it."""
    from dataclasses import replace

    return replace(image.content, target=image.content.manifest, index_bytes=None)


async def _push_one(
    svc: ImageService, client: RegistryClient, ref: Reference, image: Image, emit: Emit
) -> tuple[str, int]:
    content = image.content
    repository = ref.path
    layers = list(zip(content.layers, content.diff_ids, strict=True))
    # dockerd lists the top layer first.
    for _, diff_id in reversed(layers):
        emit(progress.layer_progress_message(short_id(diff_id), progress.PREPARING))
    gate = asyncio.Semaphore(svc.registry_config.max_concurrent_uploads)

    async def upload(blob: Descriptor, diff_id: str) -> None:
        layer_id = short_id(diff_id)
        if gate.locked():
            emit(progress.layer_progress_message(layer_id, progress.WAITING))
        async with gate:
            throttle = progress.ProgressThrottle()

            async def chunks() -> AsyncIterator[bytes]:
                sent = 0
                async for chunk in svc.store.content.read(blob.digest):
                    sent += len(chunk)
                    if throttle.due(sent, blob.size):
                        emit(
                            progress.layer_progress_message(
                                layer_id, progress.PUSHING, sent, blob.size
                            )
                        )
                    yield chunk

            outcome = await client.push_blob(repository, blob.digest, blob.size, chunks)
            action = {
                PushOutcome.EXISTS: progress.LAYER_ALREADY_EXISTS,
                PushOutcome.MOUNTED: progress.LAYER_ALREADY_EXISTS,
                PushOutcome.PUSHED: progress.PUSHED,
            }[outcome]
            emit(progress.layer_progress_message(layer_id, action))

    tasks = [asyncio.create_task(upload(blob, diff_id)) for blob, diff_id in reversed(layers)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    config = content.config_bytes

    def config_chunks() -> AsyncIterator[bytes]:
        return _one(config)

    await client.push_blob(repository, content.config_digest, len(config), config_chunks)
    manifest = content.manifest_bytes
    if len(manifest) > MAX_MANIFEST_SIZE:
        raise ImageStoreError(f"manifest {content.manifest.digest} is too large to push")
    media_type = content.manifest.media_type
    digest = await client.put_manifest(repository, ref.tag or "latest", manifest, media_type)
    return digest, len(manifest)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
