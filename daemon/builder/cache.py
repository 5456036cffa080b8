"""The classic builder's cache: a step is reused when an image exists whose parent is
the step's starting image and whose `container_config` (the config the step ran
with: its command, or the `#(nop)` comment naming the instruction, which for
COPY and ADD holds the sources' checksum, and for RUN the build args it saw) is
the same. Hostname and Image are not compared, as dockerd does not compare them.

No RPC: the image service holds every image config in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daemon.images.image import Image

# The container config fields a cached step must match.
_COMPARED = (
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "WorkingDir",
    "Entrypoint",
    "OnBuild",
    "Labels",
    "StopSignal",
    "Shell",
)


def _normal(config: dict[str, Any]) -> dict[str, Any]:
    found = {key: config.get(key) or None for key in _COMPARED}
    # Sets compare by their keys (dockerd's compare does so for ports and volumes).
    found["ExposedPorts"] = sorted(config.get("ExposedPorts") or {})
    found["Volumes"] = sorted(config.get("Volumes") or {})
    return found


def find(images: Iterable[Image], parent_id: str, container_config: dict[str, Any]) -> Image | None:
    """The newest image made from `parent_id` by a step run with `container_config`."""
    wanted = _normal(container_config)
    best: Image | None = None
    for image in images:
        document = image.config
        if str(document.get("parent") or "") != parent_id:
            continue
        found = document.get("container_config")
        if not isinstance(found, dict) or _normal(found) != wanted:
            continue
        if best is None or image.created_unix > best.created_unix:
            best = image
    return best
