"""The one gRPC channel to containerd: every call passes here to be counted and namespaced.

grpclib's `SendRequest` event fires once per RPC before it is sent, so hooking it
is the single place where the namespace metadata is added and the call counted,
whatever stub or method made it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from grpclib.client import Channel
from grpclib.events import SendRequest, listen

from ..errors import from_grpc
from .stubs import Stubs

NAMESPACE_HEADER = "containerd-namespace"

T = TypeVar("T")


def method_key(path: str) -> str:
    """`/containerd.services.tasks.v1.Tasks/Create` -> `Tasks.Create`."""
    service, _, method = path.rpartition("/")
    return f"{service.rpartition('.')[2]}.{method}"


class RpcCounter:
    """Calls made per `Service.Method`, since the client was created."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._observers: list[Callable[[str], None]] = []

    def record(self, path: str) -> None:
        key = method_key(path)
        self._counts[key] += 1
        for observer in self._observers:
            observer(key)

    def observe(self, callback: Callable[[str], None]) -> None:
        """Also tell `callback` of each call (the daemon's metrics exporter uses this)."""
        self._observers.append(callback)

    def snapshot(self) -> dict[str, int]:
        return dict(self._counts)


class Connection:
    """A grpclib channel to containerd's socket, bound to one namespace."""

    def __init__(self, address: str, namespace: str) -> None:
        self.address = address
        self.namespace = namespace
        self.counter = RpcCounter()
        self.channel = Channel(path=address)
        listen(self.channel, SendRequest, self._on_send_request)
        self.stubs = Stubs(self.channel)

    async def _on_send_request(self, event: SendRequest) -> None:
        event.metadata[NAMESPACE_HEADER] = self.namespace
        self.counter.record(event.method_name)

    def counts(self) -> Mapping[str, int]:
        return self.counter.snapshot()

    def close(self) -> None:
        self.channel.close()


async def call(awaitable: Awaitable[T], container_id: str | None = None) -> T:
    """Await one RPC, turning gRPC failures into libcontainerd's typed errors."""
    try:
        return await awaitable
    except Exception as exc:
        raise from_grpc(exc, container_id) from exc
