"""The generated service stubs of one connection, created once.

The services a daemon's start-up calls (containers, tasks, snapshots, content, images,
events, leases, version) are made with the connection; the others at their first use,
which imports their generated module then: each message class of it is a dataclass, and
making those classes was a good part of the daemon's start-up (issue 13). Diff serves
pulls, loads, imports and builds; introspection and namespaces nothing yet.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from .channel import ContainerdChannel
from .gen.containerd.services.containers.v1 import ContainersStub
from .gen.containerd.services.content.v1 import ContentStub
from .gen.containerd.services.events.v1 import EventsStub
from .gen.containerd.services.images.v1 import ImagesStub
from .gen.containerd.services.leases.v1 import LeasesStub
from .gen.containerd.services.snapshots.v1 import SnapshotsStub
from .gen.containerd.services.tasks.v1 import TasksStub
from .gen.containerd.services.version.v1 import VersionStub

if TYPE_CHECKING:
    from .gen.containerd.services.diff.v1 import DiffStub
    from .gen.containerd.services.introspection.v1 import IntrospectionStub
    from .gen.containerd.services.namespaces.v1 import NamespacesStub


class Stubs:
    def __init__(self, channel: ContainerdChannel) -> None:
        self._channel = channel
        self.containers = ContainersStub(channel)
        self.content = ContentStub(channel)
        self.events = EventsStub(channel)
        self.images = ImagesStub(channel)
        self.leases = LeasesStub(channel)
        self.snapshots = SnapshotsStub(channel)
        self.tasks = TasksStub(channel)
        self.version = VersionStub(channel)

    @cached_property
    def diff(self) -> DiffStub:
        from .gen.containerd.services.diff.v1 import DiffStub

        return DiffStub(self._channel)

    @cached_property
    def introspection(self) -> IntrospectionStub:
        from .gen.containerd.services.introspection.v1 import IntrospectionStub

        return IntrospectionStub(self._channel)

    @cached_property
    def namespaces(self) -> NamespacesStub:
        from .gen.containerd.services.namespaces.v1 import NamespacesStub

        return NamespacesStub(self._channel)
