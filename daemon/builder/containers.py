"""The containers a build runs its steps in, through the daemon's own operations.

A step's container is made by `Daemon.create` (so it gets the same confinement,
runtime and network as any container), started, waited on and removed with
the daemon's public methods, and committed with the commit path `docker commit`
uses (`daemon.commit.container_layer` + `images.commit`). Output is read from an
attachment made before the start, so nothing the command prints is missed.

Every container made here is remembered until it is removed: a build that
fails or whose client goes away removes what it must (`rm`/`forcerm`) in its
own `finally`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import errors
from daemon.commit import container_layer
from daemon.container.io import STDERR
from daemon.images import commit as image_commit
from daemon.images.image import ImageContent
from daemon.images.service import ImageService
from wire.container import ContainerCreateRequest

if TYPE_CHECKING:
    from daemon.daemon import Daemon

log = logging.getLogger(__name__)

Output = Callable[[str], Awaitable[None]]


class StepContainers:
    def __init__(self, daemon: Daemon, images: ImageService, host_config: dict[str, Any]) -> None:
        self.daemon = daemon
        self.images = images
        # The build's network and resources, for every step container.
        self.host_config = {"NetworkMode": "default", **host_config}
        self.live: list[str] = []

    async def create(self, image_id: str, config: dict[str, Any]) -> str:
        body = {
            **{k: v for k, v in config.items() if k != "Image"},
            "Image": image_id,
            "HostConfig": self.host_config,
        }
        try:
            request = ContainerCreateRequest.model_validate(body)
        except ValueError as exc:
            raise errors.InvalidParameter(f"invalid step configuration: {exc}") from None
        model, _ = await self.daemon.create(None, request)
        self.live.append(model.id)
        return model.id

    async def run(self, container_id: str, output: Output) -> int:
        """Starts the container and forwards its output until it exits; the exit code."""
        daemon = self.daemon
        live, attachment = daemon.attach(container_id, True, True)
        waiter = daemon.waiter(container_id, "next-exit")
        try:
            await daemon.start(container_id)
            try:
                while (chunk := await attachment.next()) is not None:
                    stream, data = chunk
                    text = data.decode(errors="replace")
                    # The classic builder colours what a step writes to stderr.
                    await output(f"\x1b[91m{text}\x1b[0m" if stream == STDERR else text)
                return await asyncio.shield(waiter)
            except asyncio.CancelledError:
                # The build was cancelled (its client left): the step stops, as dockerd's.
                await asyncio.shield(self._kill(container_id))
                raise
        finally:
            live.hub.detach(attachment)
            daemon.forget_waiter(container_id, waiter)

    async def _kill(self, container_id: str) -> None:
        try:
            await self.daemon.kill(container_id)
        except errors.DaemonError as exc:
            log.debug("build step %s: %s", container_id[:12], exc)

    async def commit(
        self,
        container_id: str,
        parent: ImageContent | None,
        config: dict[str, Any],
        container_config: dict[str, Any],
        author: str,
    ) -> ImageContent:
        live = self.daemon.get(container_id)
        spool = Path(tempfile.mkdtemp(prefix="build-", dir=self.images.tmp_dir))
        try:
            layer = await container_layer(live, spool / "layer.tar")
            return await commit_layer(
                self.images,
                parent=parent,
                layer=layer,
                config=config,
                # The container's own config, as dockerd keeps it: its hostname is its short
                # ID, its labels a map even when empty.
                container_config={
                    **container_config,
                    "Hostname": container_id[:12],
                    "Labels": container_config.get("Labels") or {},
                },
                container_id=container_id,
                author=author,
            )
        finally:
            shutil.rmtree(spool, ignore_errors=True)

    async def remove(self, container_id: str) -> None:
        if container_id in self.live:
            self.live.remove(container_id)
        await self.daemon.remove(container_id, force=True, volumes=True)

    async def remove_all(self) -> list[str]:
        """Removes every container still here; the IDs removed."""
        removed = []
        for container_id in list(self.live):
            try:
                await self.remove(container_id)
                removed.append(container_id)
            except errors.DaemonError as exc:
                log.warning("could not remove build container %s: %s", container_id[:12], exc)
        return removed


async def commit_layer(
    images: ImageService,
    *,
    parent: ImageContent | None,
    layer: image_commit.LayerFile | None,
    config: dict[str, Any],
    container_config: dict[str, Any],
    container_id: str,
    author: str,
) -> ImageContent:
    """A step's image: `layer` (None for a step that changed no file) on `parent`."""
    image_config = image_commit.ordered_config(
        {**config, "Image": parent.id if parent is not None else ""}
    )
    step_config = image_commit.ordered_config(
        {**container_config, "Image": parent.id if parent is not None else ""}
    )
    document = image_commit.image_document(
        parent=parent,
        layer=None if layer is None or layer.empty else layer,
        config=image_config,
        history={"created_by": " ".join(container_config.get("Cmd") or [])},
        fields={"container": container_id, "container_config": step_config, "author": author},
        created=image_commit.now(),
    )
    return await image_commit.create_image(
        images,
        parent=parent,
        layer=None if layer is None or layer.empty else layer,
        document=document,
    )
