"""`docker rename`: a new name, free and valid, kept in the store and the networks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import errors
from ..names import validate_name
from .create import check_name_free

if TYPE_CHECKING:
    from ..daemon import Daemon


def rename(daemon: Daemon, ref: str, new_name: str) -> None:
    live = daemon.get(ref)
    canonical = validate_name(new_name)
    if canonical == live.model.name:
        raise errors.InvalidParameter("Renaming a container with the same name as its current name")
    check_name_free(daemon, canonical)
    old = live.model.name
    daemon.store.rename(live.model, canonical)
    daemon.networks.container_renamed(live.id, canonical)  # networking hook
    daemon.container_event(live, "rename", oldName=old)
