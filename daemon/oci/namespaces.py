"""The namespaces of a container from NetworkMode, PidMode, IpcMode, UTSMode and CgroupnsMode."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import StartError
from .fields import get_str

# (namespace type, container name or id) -> the path to join, e.g. /proc/<pid>/ns/net.
# The daemon answers it from the running container it knows (and raises if not running).
NamespaceResolver = Callable[[str, str], str]
CONTAINER_PREFIX = "container:"


def joined_container(mode: str) -> str | None:
    """The container a mode "container:<ref>" names; None for any other mode."""
    return mode[len(CONTAINER_PREFIX) :] if mode.startswith(CONTAINER_PREFIX) else None


def _namespace(
    kind: str, mode: str, resolve: NamespaceResolver | None, *, new_unless: str = "host"
) -> dict[str, Any] | None:
    if mode == new_unless:
        return None  # stay in the host's (runc keeps the runtime's namespace)
    target = joined_container(mode)
    if target is None:
        return {"type": kind}
    if resolve is None:
        raise StartError(f"cannot join the {kind} namespace of container {target}")
    return {"type": kind, "path": resolve(kind, target)}


def namespaces(
    host_config: Mapping[str, Any], resolve: NamespaceResolver | None = None
) -> list[dict[str, Any]]:
    found: list[dict[str, Any] | None] = [
        {"type": "mount"},
        # "default", "bridge" and "none" all get a namespace of their own (loopback only).
        _namespace("network", get_str(host_config, "NetworkMode"), resolve),
        _namespace("uts", get_str(host_config, "UTSMode"), resolve),
        _namespace("pid", get_str(host_config, "PidMode"), resolve),
        _namespace("ipc", get_str(host_config, "IpcMode"), resolve),
    ]
    if get_str(host_config, "CgroupnsMode") == "private":
        found.append({"type": "cgroup"})
    return [ns for ns in found if ns is not None]
