"""The image side of a RemoteClient: containerd's content, image, lease and snapshot
stores of its namespace, over its connection (so their RPCs are counted with its own)."""

from __future__ import annotations

from .content import RemoteContentStore
from .imagestore import RemoteImageStore
from .leases import RemoteLeases
from .rpc import Connection
from .unpack import RemoteUnpacker


class RemoteImageStores:
    def __init__(self, conn: Connection, snapshotter: str) -> None:
        self._content = RemoteContentStore(conn)
        self._images = RemoteImageStore(conn)
        self._leases = RemoteLeases(conn)
        self._unpacker = RemoteUnpacker(conn, snapshotter)

    @property
    def content(self) -> RemoteContentStore:
        return self._content

    @property
    def images(self) -> RemoteImageStore:
        return self._images

    @property
    def leases(self) -> RemoteLeases:
        return self._leases

    @property
    def unpacker(self) -> RemoteUnpacker:
        return self._unpacker
