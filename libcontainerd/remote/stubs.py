"""The generated service stubs of one connection, created once."""

from __future__ import annotations

from .channel import ContainerdChannel
from .gen.containerd.services.containers.v1 import ContainersStub
from .gen.containerd.services.content.v1 import ContentStub
from .gen.containerd.services.diff.v1 import DiffStub
from .gen.containerd.services.events.v1 import EventsStub
from .gen.containerd.services.images.v1 import ImagesStub
from .gen.containerd.services.introspection.v1 import IntrospectionStub
from .gen.containerd.services.leases.v1 import LeasesStub
from .gen.containerd.services.namespaces.v1 import NamespacesStub
from .gen.containerd.services.snapshots.v1 import SnapshotsStub
from .gen.containerd.services.tasks.v1 import TasksStub
from .gen.containerd.services.version.v1 import VersionStub


class Stubs:
    def __init__(self, channel: ContainerdChannel) -> None:
        self.containers = ContainersStub(channel)
        self.content = ContentStub(channel)
        self.diff = DiffStub(channel)
        self.events = EventsStub(channel)
        self.images = ImagesStub(channel)
        self.introspection = IntrospectionStub(channel)
        self.leases = LeasesStub(channel)
        self.namespaces = NamespacesStub(channel)
        self.snapshots = SnapshotsStub(channel)
        self.tasks = TasksStub(channel)
        self.version = VersionStub(channel)
