"""`POST /commit` (`docker commit`): a container's changes as a new image.

The new layer is what `docker diff` lists, read straight from the container's
upper directory (everything added or modified is there, whole), deletions
written as whiteout files. A running container is paused for the length of the
commit, when the client asks (the default), as dockerd pauses it. The
image's config is the container's config with the `changes` applied, merged
as dockerd merges them; the rest is `images.commit.create_image`.

RPCs: Tasks.Pause and Tasks.Resume when pausing, then create_image's (see there).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from libcontainerd.errors import LibcontainerdError

from . import errors
from .container.live import LiveContainer
from .containerfs.changes import upper_changes
from .containerfs.overlay import Layers
from .containerfs.pack import pack_changes
from .containerfs.scope import DIR_FLAGS
from .images import commit as image_commit
from .images.changes import apply_changes, merge
from .images.reference import Reference
from .images.service import ImageService, parse_new_tag
from .layers import check_usable, rootfs_layers

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommitOptions:
    repo: str = ""
    tag: str = ""
    comment: str = ""
    author: str = ""
    changes: Sequence[str] = ()
    pause: bool = True
    config: dict[str, Any] | None = None  # the request body: a container config, or none


async def commit_container(
    daemon: Daemon, images: ImageService, ref: str, options: CommitOptions
) -> str:
    """Returns the new image's ID; bad input is refused before anything changes."""
    live = daemon.get(ref)
    check_usable(live, ref)
    new_ref: Reference | None = parse_new_tag(options.repo, options.tag) if options.repo else None
    user_config = apply_changes(options.config, options.changes)
    container_config = dict(live.model.config)
    config = image_commit.ordered_config(merge(user_config, container_config))
    parent = images.resolve(live.model.image_id).content if live.model.image_id else None

    # Paused (when asked and running) until the commit event is out, as dockerd does.
    paused = options.pause and await _pause(daemon, live)
    spool = Path(tempfile.mkdtemp(prefix="commit-", dir=images.tmp_dir))
    try:
        layer = await container_layer(live, spool / "layer.tar")
        document = image_commit.image_document(
            parent=parent,
            layer=layer,
            config=config,
            history={
                **({"author": options.author} if options.author else {}),
                "created_by": " ".join(container_config.get("Cmd") or []),
                **({"comment": options.comment} if options.comment else {}),
            },
            fields={
                "comment": options.comment,
                "container": live.id,
                "container_config": container_config,
                "author": options.author,
            },
            created=image_commit.now(),
        )
        content = await image_commit.create_image(
            images,
            parent=parent,
            layer=layer,
            document=document,
            refs=[new_ref] if new_ref is not None else [],
        )
        daemon.container_event(
            live,
            "commit",
            **{
                "comment": options.comment,
                "imageID": content.id,
                "imageRef": new_ref.familiar() if new_ref is not None else "",
            },
        )
    finally:
        shutil.rmtree(spool, ignore_errors=True)
        if paused:
            await _unpause(daemon, live)
    return content.id


async def _pause(daemon: Daemon, live: LiveContainer) -> bool:
    """Pauses a running container; False when it was not running or paused already.

    A container whose process is exiting cannot be paused ("cannot pause a deleted
    process"); its files no longer change either, so the commit goes on unpaused.
    """
    if not live.model.state.running or live.model.state.paused:
        return False
    try:
        await daemon.pause(live.id)
    except (errors.DaemonError, LibcontainerdError) as exc:
        log.debug("commit of %s goes on unpaused: %s", live.id, exc)
        return False
    return True


async def _unpause(daemon: Daemon, live: LiveContainer) -> None:
    # The commit's outcome stands whatever happened to the container meanwhile.
    try:
        await daemon.unpause(live.id)
    except (errors.DaemonError, LibcontainerdError) as exc:
        log.warning("could not resume %s after its commit: %s", live.id, exc)


async def container_layer(live: LiveContainer, path: Path) -> image_commit.LayerFile | None:
    """The container's changes as a layer file; None when it changed nothing."""
    try:
        layers = await rootfs_layers(live)
        layer = await asyncio.to_thread(_write, layers, path)
    except OSError as exc:
        raise errors.SystemError(f"cannot read the changes of {live.id}: {exc}") from None
    return None if layer.empty else layer


def _write(layers: Layers, path: Path) -> image_commit.LayerFile:
    found = upper_changes(layers)
    root_fd = os.open(layers.upper, DIR_FLAGS)
    try:
        return image_commit.write_layer(pack_changes(root_fd, found), path)
    finally:
        os.close(root_fd)
