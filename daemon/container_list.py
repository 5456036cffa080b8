"""`docker ps`: which containers a list shows, in which order, by dockerd's filter rules."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Protocol

from . import errors
from .container.live import LiveContainer
from .container.model import Status
from .filters import Filters

LIST_FILTERS = {"id", "name", "label", "status", "exited", "ancestor", "before", "since"}
_STATUSES = {s.value for s in Status}


class _Image(Protocol):
    @property
    def id(self) -> str: ...


class ImageResolver(Protocol):
    def resolve(self, ref: str) -> _Image: ...


class ContainerFinder(Protocol):
    def __call__(self, ref: str) -> LiveContainer: ...


def list_containers(
    containers: Iterable[LiveContainer],
    find: ContainerFinder,
    images: ImageResolver | None,
    filters: Filters,
    *,
    show_all: bool,
    limit: int,
) -> list[LiveContainer]:
    """Newest first; stopped ones only with `show_all`, a status filter, or a limit."""
    filters.validate(LIST_FILTERS)
    for status in filters.get("status"):
        if status not in _STATUSES:
            raise errors.InvalidParameter(f"Invalid filter 'status={status}'")
    show_all = show_all or filters.contains("status")
    lives = sorted(containers, key=lambda c: c.model.created, reverse=True)
    ancestors = _ancestor_ids(images, filters)
    # before/since name containers; only those created strictly before/after them are shown.
    for key, keep in (("before", str.__lt__), ("since", str.__gt__)):
        for ref in filters.get(key):
            pivot = find(ref).model.created
            lives = [c for c in lives if keep(c.model.created, pivot)]
    shown: list[LiveContainer] = []
    for live in lives:
        if not show_all and not live.model.state.running and limit <= 0:
            continue
        if _matches(live, filters, ancestors):
            shown.append(live)
        if limit > 0 and len(shown) >= limit:
            break
    return shown


def _matches(live: LiveContainer, filters: Filters, ancestors: set[str] | None) -> bool:
    model = live.model
    state = model.state
    if filters.contains("id") and not any(model.id.startswith(v) for v in filters.get("id")):
        return False
    if filters.contains("name") and not any(
        v.lstrip("/") in model.name.lstrip("/") for v in filters.get("name")
    ):
        return False
    if filters.contains("status") and str(state.status) not in filters.get("status"):
        return False
    if filters.contains("exited") and (
        state.status is not Status.EXITED or str(state.exit_code) not in filters.get("exited")
    ):
        return False
    if filters.contains("label") and not filters.match_kv("label", model.labels):
        return False
    return ancestors is None or model.image_id in ancestors


def _ancestor_ids(images: ImageResolver | None, filters: Filters) -> set[str] | None:
    """The image IDs an `ancestor` filter names (any form: name, tag, short or full ID)."""
    if not filters.contains("ancestor"):
        return None
    ids = set()
    for ref in filters.get("ancestor"):
        with contextlib.suppress(errors.DaemonError):
            if images is not None:
                ids.add(images.resolve(ref).id)
    return ids
