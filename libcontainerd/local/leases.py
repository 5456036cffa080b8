"""Leases for the local stores, which have no garbage collector: nothing is reclaimed
behind the daemon's back, so a lease protects nothing and costs nothing. The ids are
still made and kept, so the image service's calls behave as with containerd."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import timedelta

from ..errors import AlreadyExistsError


class LocalLeases:
    def __init__(self) -> None:
        self._ids: set[str] = set()

    async def create(
        self,
        lease_id: str = "",
        *,
        expire: timedelta | None = None,
        labels: Mapping[str, str] | None = None,
        exist_ok: bool = False,
    ) -> str:
        lease_id = lease_id or f"moorage-{secrets.token_hex(8)}"
        if lease_id in self._ids and not exist_ok:
            raise AlreadyExistsError(f"lease {lease_id}: already exists")
        self._ids.add(lease_id)
        return lease_id

    async def delete(self, lease_id: str, *, sync: bool = False) -> None:
        self._ids.discard(lease_id)

    @contextlib.contextmanager
    def use(self, lease_id: str) -> Iterator[None]:
        yield

    @contextlib.asynccontextmanager
    async def temporary(
        self, *, expire: timedelta = timedelta(hours=1), sync: bool = False
    ) -> AsyncIterator[str]:
        lease_id = await self.create(expire=expire)
        try:
            yield lease_id
        finally:
            await self.delete(lease_id, sync=sync)
