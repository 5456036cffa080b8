"""A container's effective Config: the create request merged with its image's config.

What dockerd does at create, so the result is what `docker inspect` shows as
`.Config`, `.Path` and `.Args`. The request fields win; the image fills the gaps.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wire.base import copy_json

from ..signals import parse_signal
from .defaults import DEFAULT_PATH
from .errors import SpecError
from .fields import get_map, get_str, get_strs

# Keys of the create body that are not part of Config.
_NOT_CONFIG = ("HostConfig", "NetworkingConfig")
_HEALTHCHECK_DURATIONS = ("Interval", "Timeout", "StartPeriod", "Retries")


@dataclass(frozen=True)
class MergedConfig:
    """inspect's `.Config`, and its `Path` and `Args` (the command split in two)."""

    config: dict[str, Any]
    path: str
    args: list[str]

    @property
    def argv(self) -> list[str]:
        return [self.path, *self.args]


def env_key(entry: str) -> str:
    return entry.split("=", 1)[0]


def _merge_env(user: list[str], image: list[str]) -> list[str] | None:
    if not user:
        return list(image) if image else None
    keys = {env_key(e) for e in user}
    # The request's entries keep their order and come first, as in dockerd.
    return user + [e for e in image if env_key(e) not in keys]


def _merge_healthcheck(user: Any, image: Any) -> Any:
    if not isinstance(user, Mapping):
        return copy_json(image) if user is None else user
    merged = dict(user)
    if isinstance(image, Mapping):
        if not merged.get("Test"):
            merged["Test"] = image.get("Test")
        for key in _HEALTHCHECK_DURATIONS:
            if not merged.get(key) and image.get(key):
                merged[key] = image[key]
    return merged


def _merge_set(user: dict[str, Any], image: dict[str, Any]) -> dict[str, Any] | None:
    if not user:
        return dict(image) if image else None
    return {**image, **user}


def merge_config(
    request: Mapping[str, Any],
    image_config: Mapping[str, Any] | None,
    *,
    container_id: str,
    host_hostname: str | None = None,
) -> MergedConfig:
    """Merge the create body (Config fields at top level) with the image's config.

    A container on the host network that names no hostname gets `host_hostname`,
    by default the host's own (as dockerd). Raises SpecError `No command specified`.
    """
    image = image_config or {}
    config = copy_json({k: v for k, v in request.items() if k not in _NOT_CONFIG})

    if not get_str(config, "User"):
        config["User"] = get_str(image, "User")
    if not get_str(config, "WorkingDir"):
        config["WorkingDir"] = get_str(image, "WorkingDir")
    if not get_str(config, "StopSignal") and get_str(image, "StopSignal"):
        config["StopSignal"] = get_str(image, "StopSignal")
    config["Env"] = _merge_env(get_strs(config, "Env"), get_strs(image, "Env"))
    config["Labels"] = {**get_map(image, "Labels"), **get_map(config, "Labels")}
    config["ExposedPorts"] = _merge_set(
        get_map(config, "ExposedPorts"), get_map(image, "ExposedPorts")
    )
    config["Volumes"] = _merge_set(get_map(config, "Volumes"), get_map(image, "Volumes"))
    healthcheck = _merge_healthcheck(config.get("Healthcheck"), image.get("Healthcheck"))
    if healthcheck is not None:
        config["Healthcheck"] = healthcheck

    entrypoint = get_strs(config, "Entrypoint") if config.get("Entrypoint") is not None else None
    cmd = get_strs(config, "Cmd") or None
    if not entrypoint:
        # Giving an entrypoint drops the image's Cmd; giving none keeps both of the image's.
        if not cmd:
            cmd = get_strs(image, "Cmd") or None
        if entrypoint is None:
            entrypoint = get_strs(image, "Entrypoint") or None
    if entrypoint == [""]:  # `--entrypoint ""`: no entrypoint at all
        entrypoint = None
    config["Entrypoint"] = entrypoint or None
    config["Cmd"] = cmd
    argv = [*(entrypoint or []), *(cmd or [])]
    if not argv:
        raise SpecError("No command specified")

    if not get_str(config, "Hostname"):
        network_mode = get_str(get_map(request, "HostConfig"), "NetworkMode")
        if network_mode == "host":
            config["Hostname"] = socket.gethostname() if host_hostname is None else host_hostname
        else:
            config["Hostname"] = container_id[:12]
    return MergedConfig(config=config, path=argv[0], args=argv[1:])


def stop_signal(config: Mapping[str, Any]) -> int:
    """The signal `docker stop` sends first: StopSignal, else SIGTERM."""
    return parse_signal(get_str(config, "StopSignal"), default=signal.SIGTERM)


def replace_or_append_env(defaults: list[str], overrides: list[str]) -> list[str]:
    """Overrides replace defaults with the same key, in place; a bare `KEY` unsets it."""
    result = list(defaults)
    for entry in overrides:
        key = env_key(entry)
        index = next((i for i, e in enumerate(result) if env_key(e) == key), None)
        if "=" not in entry:
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(entry)
        else:
            result[index] = entry
    return result


def process_env(config: Mapping[str, Any], linked_env: Sequence[str] = ()) -> list[str]:
    """The init process's environment: PATH, HOSTNAME, TERM for a tty, the variables of
    legacy links, then Config.Env (which replaces any of those)."""
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={get_str(config, 'Hostname')}"]
    if config.get("Tty"):
        base.append("TERM=xterm")
    base += linked_env
    return replace_or_append_env(base, get_strs(config, "Env"))
