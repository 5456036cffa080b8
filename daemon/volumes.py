"""Named volumes: moorage has none yet, so the volume endpoints answer as a dockerd
without any volume would, and creating one fails plainly.

dockerd's wording is kept where it exists (``get <name>: no such volume``). Creating
a volume is refused with a 500 naming the missing feature, the status the API
documents for a create that cannot be done; a client (compose) stops there with a
message a user can act on, rather than meeting a half-made volume later.
"""

from __future__ import annotations

from typing import Any

from wire.volume import VolumePruneResponse

from . import errors


def list_volumes() -> list[dict[str, Any]]:  # no volume shape until there are volumes
    return []


def get_volume(name: str) -> dict[str, Any]:
    raise errors.NotFound(f"get {name}: no such volume")


def remove_volume(name: str) -> None:
    raise errors.NotFound(f"get {name}: no such volume")


def create_volume(name: str, driver: str) -> dict[str, Any]:
    where = f"create {name}" if name else "create"
    raise errors.SystemError(
        f'{where}: named volumes are not supported by this daemon (no volume driver "{driver}")'
    )


def prune_volumes() -> VolumePruneResponse:
    return {"VolumesDeleted": None, "SpaceReclaimed": 0}
