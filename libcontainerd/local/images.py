"""The image side of a LocalClient: its content, image, lease and snapshot stores."""

from __future__ import annotations

from .content import LocalContentStore
from .imagestore import LocalImageStore
from .leases import LocalLeases
from .snapshots import LocalUnpacker, Snapshotter


class LocalImageStores:
    def __init__(
        self,
        content: LocalContentStore,
        images: LocalImageStore,
        leases: LocalLeases,
        snapshotter: Snapshotter,
    ) -> None:
        self._content = content
        self._images = images
        self._leases = leases
        self._unpacker = LocalUnpacker(snapshotter, content)

    @property
    def content(self) -> LocalContentStore:
        return self._content

    @property
    def images(self) -> LocalImageStore:
        return self._images

    @property
    def leases(self) -> LocalLeases:
        return self._leases

    @property
    def unpacker(self) -> LocalUnpacker:
        return self._unpacker
