"""libcontainerd without containerd: the OCI runtime (runc) driven directly."""

from .client import LocalClient

__all__ = ["LocalClient"]
