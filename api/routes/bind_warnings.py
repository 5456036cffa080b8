"""Warnings for bind mounts that hand a container the daemon itself.

A container given the daemon's API socket controls the daemon, and so is root on the
host; one given the data root can rewrite other containers' and images' files. Both
are sometimes meant (docker-in-docker style tools mount the socket on purpose), so
they are not refused: the create reply's ``Warnings`` say it (the docker CLI prints
them as ``WARNING: ...``) and the daemon logs it.

A mount counts when its host path, symlinks resolved, is the protected path, lies
inside it (a directory under the data root) or contains it (``-v /run:/x`` holds the
socket, ``-v /:/host`` both). Only what the container's own HostConfig asks for is
looked at: mounts inherited through VolumesFrom were warned about on their first
container.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from daemon.oci.mounts import parse_bind

log = logging.getLogger(__name__)

DATA_ROOT = "the daemon's data root"
API_SOCKET = "the daemon's API socket"


def protected_paths(data_root: str | os.PathLike[str], sockets: Iterable[str]) -> dict[str, str]:
    """{real path: what it is} for the data root and each unix socket the API listens on."""
    found = {os.path.realpath(data_root): DATA_ROOT}
    for socket in sockets:
        found[os.path.realpath(socket)] = API_SOCKET
    return found


def _bind_sources(host_config: Mapping[str, Any]) -> Iterator[str]:
    for raw in host_config.get("Binds") or ():
        if isinstance(raw, str):
            mount = parse_bind(raw)
            if mount.type == "bind":
                yield mount.source
    for spec in host_config.get("Mounts") or ():
        if isinstance(spec, Mapping) and spec.get("Type") == "bind":
            source = spec.get("Source")
            if isinstance(source, str) and source:
                yield source


def _overlaps(source: str, protected: str) -> bool:
    """`source` is `protected`, inside it, or a directory that holds it."""
    common = os.path.commonpath([source, protected])
    return common in (source, protected)


def sensitive_bind_warnings(
    host_config: Mapping[str, Any], protected: Mapping[str, str]
) -> list[str]:
    """One warning per bind mount and protected path it exposes, in mount order."""
    warnings: list[str] = []
    for source in _bind_sources(host_config):
        real = os.path.realpath(source)
        for path, what in protected.items():
            if _overlaps(real, path):
                shown = source if real == source else f"{source} ({real})"
                warnings.append(
                    f"the bind mount of {shown} gives the container {what} {path}: "
                    + (
                        "whoever runs in it controls the daemon, as root on the host"
                        if what == API_SOCKET
                        else "it can change the files of other containers, images and volumes"
                    )
                )
    return warnings


def log_warnings(container_id: str, warnings: list[str]) -> None:
    for warning in warnings:
        log.warning("container %s: %s", container_id[:12], warning)
