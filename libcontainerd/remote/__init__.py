"""libcontainerd on a real containerd, over gRPC."""

from .client import RemoteClient
from .container import RemoteContainer
from .process import RemoteProcess
from .task import RemoteTask

__all__ = ["RemoteClient", "RemoteContainer", "RemoteProcess", "RemoteTask"]
