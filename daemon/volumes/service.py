"""The volume service: create, inspect, list, remove and prune, with dockerd's errors,
and which containers use which volume.

References ("in use") are kept in memory, rebuilt from the containers' records at
load: a volume is in use while any container, running or not, names it. Active
mounts are counted apart: a volume with DriverOpts is mounted while at least one
running container uses it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from wire.volume import Volume, VolumePruneResponse

from .. import errors
from ..containerfs.usage import tree_size
from ..filters import Filters, prune_labels_match
from . import local
from .store import VolumeRecord, VolumeStore

log = logging.getLogger(__name__)

# (action, volume name, attributes), published as a "volume" event.
VolumeEventSink = Callable[[str, str, dict[str, str]], None]


def created_at(path: Path) -> str:
    """dockerd's CreatedAt: the change time of the volume's directory, RFC 3339 in local time
    to the second (Go's time.RFC3339: "Z" for UTC)."""
    try:
        when = datetime.fromtimestamp(os.stat(path).st_ctime).astimezone()
    except OSError:
        return ""
    text = when.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class VolumeService:
    def __init__(self, root: Path, emit: VolumeEventSink) -> None:
        self.store = VolumeStore(root)
        self._emit = emit
        self._volumes: dict[str, VolumeRecord] = {}
        self._refs: dict[str, set[str]] = {}  # volume name -> ids of containers naming it
        self._active: dict[str, set[str]] = {}  # volume name -> running containers' ids

    def load(self) -> None:
        self._volumes = {r.name: r for r in self.store.load()}

    # -- records -------------------------------------------------------------------------

    def get(self, name: str) -> VolumeRecord:
        record = self._volumes.get(name)
        if record is None:
            raise errors.NotFound(f"get {name}: no such volume")
        return record

    def exists(self, name: str) -> bool:
        return name in self._volumes

    def mountpoint(self, name: str) -> str:
        return str(self.store.data_path(name))

    def create(
        self,
        name: str = "",
        driver: str = "",
        options: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        *,
        anonymous: bool = False,
    ) -> VolumeRecord:
        """A new volume, or the existing one of that name (as dockerd, which then ignores
        the options and labels asked for)."""
        driver = driver or local.DRIVER
        if name and name in self._volumes:
            existing = self._volumes[name]
            if existing.driver != driver:
                raise errors.Conflict(
                    f"create {name}: volume name must be unique: a volume with that name "
                    f'already exists with driver "{existing.driver}"'
                )
            return existing
        if driver != local.DRIVER:
            raise errors.NotFound(
                f'error looking up volume plugin {driver}: plugin "{driver}" not found'
            )
        if not name:
            name = secrets.token_hex(32)
        local.check_name(name)
        local.check_options(name, options or {})
        record = VolumeRecord(
            name=name,
            driver=driver,
            # An empty map (what the CLI sends) is shown as null, as dockerd does.
            labels=dict(labels) if labels else None,
            options=dict(options) if options else None,
            anonymous=anonymous,
        )
        try:
            self.store.add(record)
        except OSError as exc:
            raise errors.SystemError(f"create {name}: {exc}") from None
        self._volumes[name] = record
        self._emit("create", name, {"driver": driver})
        return record

    def inspect(self, record: VolumeRecord) -> Volume:
        return {
            "CreatedAt": created_at(self.store.data_path(record.name)),
            "Driver": record.driver,
            "Labels": record.labels,
            "Mountpoint": self.mountpoint(record.name),
            "Name": record.name,
            "Options": record.options,
            "Scope": "local",
        }

    def list_volumes(self, filters: Filters) -> list[Volume]:
        """Filters: name and driver match as dockerd's (equal, or a regular expression
        found in it), label as k or k=v, dangling: used by no container."""
        dangling = _dangling(filters)
        found = []
        for record in sorted(self._volumes.values(), key=lambda r: r.name):
            if not filters.match("name", record.name) or not filters.match("driver", record.driver):
                continue
            if not filters.match_kv("label", record.labels):
                continue
            if dangling is not None and dangling == self.in_use(record.name):
                continue
            found.append(self.inspect(record))
        return found

    # -- removal ---------------------------------------------------------------------------

    def in_use(self, name: str) -> bool:
        return bool(self._refs.get(name))

    def _check_unused(self, name: str) -> None:
        refs = self._refs.get(name)
        if refs:
            raise errors.Conflict(f"remove {name}: volume is in use - [{', '.join(sorted(refs))}]")

    def remove(self, name: str, *, force: bool = False) -> None:
        """dockerd's rules: a volume in use is never removed (409, force or not); `force`
        only makes a missing volume no error."""
        record = self._volumes.get(name)
        if record is None:
            if force:
                return
            raise errors.NotFound(f"get {name}: no such volume")
        self._check_unused(name)
        self._remove(record)

    def _remove(self, record: VolumeRecord) -> None:
        path = self.mountpoint(record.name)
        try:
            local.unmount_volume(path)
        except OSError as exc:
            raise errors.SystemError(f"remove {record.name}: {exc}") from None
        self.store.remove(record.name)
        self._volumes.pop(record.name, None)
        self._emit("destroy", record.name, {"driver": record.driver})

    async def prune(self, filters: Filters, *, anonymous_only: bool) -> VolumePruneResponse:
        """Unused volumes matching the label filters. As dockerd, a volume made with
        DriverOpts is never pruned: it may stand for storage outside the daemon."""
        deleted: list[str] = []
        reclaimed = 0
        for record in sorted(self._volumes.values(), key=lambda r: r.name):
            if self.in_use(record.name) or (anonymous_only and not record.anonymous):
                continue
            if record.options:
                continue
            if not prune_labels_match(filters.as_dict(), record.labels or {}):
                continue
            size = await asyncio.to_thread(tree_size, self.mountpoint(record.name))
            if self.in_use(record.name) or record.name not in self._volumes:
                continue  # taken by a container, or removed, while its size was counted
            try:
                self._remove(record)
            except errors.DaemonError as exc:
                log.warning("prune: %s", exc)
                continue
            deleted.append(record.name)
            reclaimed += size
        self._emit("prune", "", {"reclaimed": str(reclaimed)})
        # dockerd 20.10 answers an empty list, not null, when nothing went.
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}

    async def usage(self) -> list[Volume]:
        """The volumes with UsageData (`docker system df`): as dockerd, those without
        DriverOpts only (the others may be mounts of storage elsewhere)."""
        found = []
        for record in sorted(self._volumes.values(), key=lambda r: r.name):
            if record.options:
                continue
            volume = self.inspect(record)
            size = await asyncio.to_thread(tree_size, self.mountpoint(record.name))
            volume["UsageData"] = {"Size": size, "RefCount": len(self._refs.get(record.name, ()))}
            found.append(volume)
        return found

    # -- containers ------------------------------------------------------------------------

    def add_ref(self, name: str, container_id: str) -> None:
        self._refs.setdefault(name, set()).add(container_id)

    def drop_refs(self, container_id: str) -> None:
        for name in list(self._refs):
            self._refs[name].discard(container_id)
            if not self._refs[name]:
                del self._refs[name]

    async def mount(self, name: str, container_id: str) -> str:
        """The volume's directory, its filesystem mounted there first if it has one."""
        record = self.get(name)
        users = self._active.setdefault(name, set())
        path = self.mountpoint(name)
        if local.needs_mount(record.options):
            await asyncio.to_thread(local.mount_volume, record.options or {}, path)
        users.add(container_id)
        return path

    async def unmount_idle(self) -> None:
        """At restore, once running containers took their volumes again: a volume still
        mounted for a run that ended while the daemon was away is unmounted."""
        for record in list(self._volumes.values()):
            if record.name in self._active or not local.needs_mount(record.options):
                continue
            try:
                await asyncio.to_thread(local.unmount_volume, self.mountpoint(record.name))
            except OSError as exc:
                log.warning("unmount of volume %s: %s", record.name, exc)

    async def unmount(self, name: str, container_id: str) -> bool:
        """The container's use of the volume ends; False if it was not using it."""
        users = self._active.get(name)
        if users is None or container_id not in users:
            return False
        users.discard(container_id)
        if users:
            return True
        del self._active[name]
        record = self._volumes.get(name)
        if record is not None and local.needs_mount(record.options):
            try:
                await asyncio.to_thread(local.unmount_volume, self.mountpoint(name))
            except OSError as exc:
                log.warning("unmount of volume %s: %s", name, exc)
        return True


def _dangling(filters: Filters) -> bool | None:
    """The dangling filter: true/1 wins over false/0, as in dockerd; None if not given."""
    values = filters.get("dangling")
    if not values:
        return None
    if {"true", "1"} & set(values):
        return True
    if {"false", "0"} & set(values):
        return False
    raise errors.InvalidParameter(f"Invalid filter 'dangling=[{' '.join(values)}]'")
