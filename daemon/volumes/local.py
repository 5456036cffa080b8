"""The `local` volume driver: a directory under the data root, and, for a volume made
with DriverOpts (`type`, `device`, `o`), the mount(2) that puts the filesystem named
there on that directory while a container uses it (tmpfs, a bind with o=bind, a
block device...). As in dockerd, the options are checked at create and used at the
first mount; the mount goes when the last container using the volume stops.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from libcontainerd.types import Mount

from .. import errors
from ..containerfs.mounts import mount_all, unmount

DRIVER = "local"
_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(f"^{_NAME_CHARS}+$")
_OPTION_KEYS = ("type", "device", "o", "size")
# An option that needs others beside it.
_REQUIRES = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


def check_name(name: str) -> None:
    if len(name) == 1:
        raise errors.InvalidParameter(
            f"create {name}: volume name is too short, names should be at least two "
            "alphanumeric characters"
        )
    if not _NAME.match(name):
        raise errors.InvalidParameter(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            f'only "{_NAME_CHARS}" are allowed. If you intended to pass a host directory, '
            "use absolute path"
        )


def check_options(name: str, options: Mapping[str, str]) -> None:
    """dockerd's checks of the local driver's options (no quota support: this daemon's
    data root is not on a filesystem with project quotas)."""
    for key in options:
        if key not in _OPTION_KEYS:
            raise errors.InvalidParameter(f'create {name}: invalid option: "{key}"')
    for key, required in _REQUIRES.items():
        for other in required if key in options else ():
            if other not in options:
                raise errors.InvalidParameter(f'create {name}: missing required option: "{other}"')
    if options.get("size", "0").strip() not in ("0", ""):
        raise errors.InvalidParameter(f"create {name}: quota size requested but no quota support")


def needs_mount(options: Mapping[str, str] | None) -> bool:
    return options is not None and bool(options.get("type") or options.get("device"))


def mount_volume(options: Mapping[str, str], path: str) -> None:
    """Mount what `options` name on `path`, unless it is mounted already (a run that
    started before a daemon restart). Blocking: run it in a thread."""
    if os.path.ismount(path):
        return
    device, kind, data = options.get("device", ""), options.get("type", ""), options.get("o", "")
    if not device:
        raise errors.SystemError("missing device in volume options")
    spec = Mount(kind, device, tuple(o for o in data.split(",") if o))
    try:
        mount_all([spec], path)
    except OSError as exc:
        shown = f", data: {data}" if data else ""
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        reason = reason[:1].lower() + reason[1:]  # Go's errno texts start in lower case
        raise errors.SystemError(
            f"error while mounting volume '{path}': failed to mount local volume: "
            f"mount {device}:{path}{shown}: {reason}"
        ) from None


def unmount_volume(path: str) -> None:
    if os.path.ismount(path):
        unmount(path)
