"""Leases for the local stores: while any lease is held (and not expired) the garbage
collector (gc.py) does not run, so content made under one is safe until the lease
goes. Leases live in memory: a daemon restart ends them, as nothing is under way then."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import timedelta
from time import monotonic

from ..errors import AlreadyExistsError
from ..types import lease_id_or_new, temporary_lease


class LocalLeases:
    def __init__(self) -> None:
        # id -> when it expires (monotonic), or None
        self._ids: dict[str, float | None] = {}
        # Called after a lease is deleted with `sync` (the image service's "collect now").
        self.after_delete: Callable[[], Awaitable[None]] | None = None

    def held(self) -> bool:
        now = monotonic()
        return any(expiry is None or expiry > now for expiry in self._ids.values())

    async def create(
        self,
        lease_id: str = "",
        *,
        expire: timedelta | None = None,
        labels: Mapping[str, str] | None = None,
        exist_ok: bool = False,
    ) -> str:
        lease_id = lease_id_or_new(lease_id)
        if lease_id in self._ids and not exist_ok:
            raise AlreadyExistsError(f"lease {lease_id}: already exists")
        self._ids[lease_id] = monotonic() + expire.total_seconds() if expire else None
        return lease_id

    async def delete(self, lease_id: str, *, sync: bool = False) -> None:
        self._ids.pop(lease_id, None)
        if self.after_delete is not None:
            await self.after_delete()

    @contextlib.contextmanager
    def use(self, lease_id: str) -> Iterator[None]:
        yield

    def temporary(
        self, *, expire: timedelta = timedelta(hours=1), sync: bool = False
    ) -> contextlib.AbstractAsyncContextManager[str]:
        return temporary_lease(self, expire=expire, sync=sync)
