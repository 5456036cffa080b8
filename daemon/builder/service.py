"""Starting a build: the request's context unpacked and its Dockerfile parsed, before any
byte of the reply, so that a bad context or Dockerfile is an ordinary 400."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterable
from pathlib import Path
from typing import TYPE_CHECKING

from daemon import errors
from daemon.images.service import ImageService

from .build import Build, BuildOptions
from .context import BuildContext, apply_dockerignore, spool_context, unpack
from .dockerfile import DEFAULT_DOCKERFILE_NAMES, parse

if TYPE_CHECKING:
    from daemon.daemon import Daemon


async def start_build(
    daemon: Daemon,
    images: ImageService,
    body: AsyncIterable[bytes],
    dockerfile: str,
    options: BuildOptions,
) -> Build:
    work = Path(tempfile.mkdtemp(prefix="build-context-", dir=images.tmp_dir))
    try:
        tar = work / "context.tar"
        await spool_context(body, tar)
        context = await asyncio.to_thread(unpack, tar, work / "root")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    tar.unlink(missing_ok=True)
    context.cleanup_dirs.append(work)
    try:
        source = _dockerfile(context, dockerfile)
        parsed = parse(source)
        await asyncio.to_thread(apply_dockerignore, context)
    except BaseException:
        context.close()
        raise
    return Build(daemon, images, context, parsed, options)


def _dockerfile(context: BuildContext, name: str) -> str:
    candidates = [name] if name else list(DEFAULT_DOCKERFILE_NAMES)
    for candidate in candidates:
        rel = candidate.lstrip("/")
        data = context.read(rel)
        if data is not None:
            if not data:
                raise errors.SystemError(f"the Dockerfile ({rel}) cannot be empty")
            return data.decode(errors="replace")
    raise errors.InvalidParameter(
        f"Cannot locate specified Dockerfile: {name or DEFAULT_DOCKERFILE_NAMES[0]}"
    )
