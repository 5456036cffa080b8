"""Leases: what keeps half-made images from containerd's garbage collector.

Content, ingests and snapshots created by calls that carry a lease belong to it
until it is deleted (or expires), so a blob written before the image record that
references it exists cannot be reclaimed in between.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from ..errors import AlreadyExistsError, NotFoundError
from ..gclabels import EXPIRE_LABEL
from ..types import lease_id_or_new, temporary_lease
from .gen.containerd.services.leases.v1 import CreateRequest, DeleteRequest
from .rpc import Connection, call


class RemoteLeases:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def create(
        self,
        lease_id: str = "",
        *,
        expire: timedelta | None = None,
        labels: Mapping[str, str] | None = None,
        exist_ok: bool = False,
    ) -> str:
        """Creates a lease (a random id when none is given); returns its id.

        `exist_ok` makes a lease that already exists count as created, which is how a
        retried operation takes over what its failed predecessor left under the lease.
        """
        lease_id = lease_id_or_new(lease_id)
        all_labels = dict(labels or {})
        if expire is not None:
            all_labels[EXPIRE_LABEL] = (datetime.now(UTC) + expire).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            await call(
                self._conn.stubs.leases.create(CreateRequest(id=lease_id, labels=all_labels))
            )
        except AlreadyExistsError:
            if not exist_ok:
                raise
        return lease_id

    async def delete(self, lease_id: str, *, sync: bool = False) -> None:
        """`sync` waits for the garbage collection that the deletion allows."""
        with contextlib.suppress(NotFoundError):
            await call(self._conn.stubs.leases.delete(DeleteRequest(id=lease_id, sync=sync)))

    def use(self, lease_id: str) -> contextlib.AbstractContextManager[None]:
        """Every RPC made inside (by this task and tasks it starts) carries `lease_id`."""
        return self._conn.lease(lease_id)

    def temporary(
        self, *, expire: timedelta = timedelta(hours=1), sync: bool = False
    ) -> contextlib.AbstractAsyncContextManager[str]:
        return temporary_lease(self, expire=expire, sync=sync)
