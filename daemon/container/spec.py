"""The glue between a container's Docker config and its OCI spec.

It merges the image's config into the container's (what `docker inspect` then
shows as `.Config`, `.Path` and `.Args`) and asks the OCI builder for the spec.
"""

from __future__ import annotations

from typing import Any

from .. import errors
from ..oci.defaults import DEFAULT_PATH, default_spec
from .model import Container

CGROUP_PARENT = "/moorage"


def _env_key(entry: str) -> str:
    return entry.split("=", 1)[0]


def merge_image_config(config: dict[str, Any], image_config: dict[str, Any]) -> dict[str, Any]:
    merged = dict(config)
    entrypoint = config.get("Entrypoint")
    cmd = config.get("Cmd")
    if entrypoint is None:
        entrypoint = image_config.get("Entrypoint")
        if not cmd:
            cmd = image_config.get("Cmd")
    elif entrypoint == [""]:
        entrypoint = None
    merged["Entrypoint"] = entrypoint or None
    merged["Cmd"] = cmd or None
    env = list(image_config.get("Env") or [])
    for entry in config.get("Env") or []:
        env = [e for e in env if _env_key(e) != _env_key(entry)] + [entry]
    if not any(_env_key(e) == "PATH" for e in env):
        env.insert(0, f"PATH={DEFAULT_PATH}")
    merged["Env"] = env
    merged["WorkingDir"] = config.get("WorkingDir") or image_config.get("WorkingDir") or ""
    merged["User"] = config.get("User") or image_config.get("User") or ""
    labels = dict(image_config.get("Labels") or {})
    labels.update(config.get("Labels") or {})
    merged["Labels"] = labels
    if not merged.get("StopSignal") and image_config.get("StopSignal"):
        merged["StopSignal"] = image_config["StopSignal"]
    return merged


def prepare(container: Container, image_config: dict[str, Any]) -> dict[str, Any]:
    """Fill the container's merged Config, Path and Args; return its OCI spec."""
    config = merge_image_config(container.config, image_config)
    argv = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
    if not argv:
        raise errors.InvalidParameter("No command specified")
    container.config = config
    container.path, container.args = argv[0], argv[1:]
    spec = default_spec(container.id, CGROUP_PARENT, argv)
    process = spec["process"]
    process["env"] = config["Env"]
    process["cwd"] = config["WorkingDir"] or "/"
    process["terminal"] = bool(config.get("Tty"))
    spec["hostname"] = config.get("Hostname") or container.id[:12]
    return spec
