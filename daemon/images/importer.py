"""`POST /images/create?fromSrc=-` (`docker import`): a root filesystem tar as a one-layer image.

The body (a tar, maybe gzip, bzip2 or xz compressed) is decompressed into a spool
file while its digest is taken, then stored through `commit.create_image`. The
config is an empty container config with the `changes` applied; the comment and
the history entry say `message`, or "Imported from -" as dockerd writes it. The
reply is one progress line whose `status` is the new image's ID.

Importing from a URL is refused: this daemon reaches no network but loopback.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import errors
from daemon.errors import InvalidParameter
from daemon.images import commit as image_commit
from daemon.images import progress
from daemon.images.changes import apply_changes
from daemon.images.compression import DecompressionError, auto_decompress
from daemon.images.platforms import InvalidPlatformError, parse_platform
from daemon.images.streaming import run_streaming
from libcontainerd.errors import LibcontainerdError

if TYPE_CHECKING:
    from daemon.images.service import ImageService


async def import_image(
    svc: ImageService,
    chunks: AsyncIterable[bytes],
    *,
    src: str,
    repo: str = "",
    tag: str = "",
    message: str = "",
    changes: Sequence[str] = (),
    platform: str = "",
) -> AsyncIterator[dict[str, Any]]:
    from daemon.images.service import parse_new_tag

    try:
        # The imported image's OS and architecture (API 1.42, unversioned); the host's if none.
        spec = parse_platform(platform) if platform else None
    except InvalidPlatformError as exc:
        raise InvalidParameter(str(exc)) from None

    if src != "-":
        raise InvalidParameter(
            f"importing from a URL ({src}) is not supported: send the archive as the body"
        )
    new_ref = parse_new_tag(repo, tag) if repo else None
    config = image_commit.ordered_config(apply_changes(image_commit.config_skeleton(), changes))
    comment = message or f"Imported from {src}"

    async def work(emit: Any) -> None:
        spool = Path(tempfile.mkdtemp(prefix="import-", dir=svc.tmp_dir))
        try:
            try:
                layer = await image_commit.spool_layer(auto_decompress(chunks), spool / "layer.tar")
            except DecompressionError as exc:
                raise InvalidParameter(str(exc)) from None
            created = image_commit.now()
            document = image_commit.image_document(
                parent=None,
                layer=layer,
                config=config,
                history={"comment": comment},
                fields={"comment": comment},
                created=created,
                platform=spec,
            )
            try:
                content = await image_commit.create_image(
                    svc,
                    parent=None,
                    layer=layer,
                    document=document,
                    refs=[new_ref] if new_ref is not None else [],
                )
            except LibcontainerdError as exc:
                raise errors.SystemError(_tar_error(str(exc))) from None
        finally:
            shutil.rmtree(spool, ignore_errors=True)
        svc.event("import", content.id, content.id)
        emit(progress.status_message(content.id))

    async for message_ in run_streaming(work):
        yield message_


def _tar_error(text: str) -> str:
    """What containerd says of a body that is no tar, without its mount path (dockerd's
    text is Go's tar error alone)."""
    found = text.find("archive/tar:")
    return text[found:] if found >= 0 else text
