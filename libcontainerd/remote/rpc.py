"""The connection to containerd: one channel, one namespace, the calls it made.

Every RPC, whatever stub or method makes it, passes through the channel's `request`
(channel.py), the single place where the namespace header is added and the call
counted. It also adds the lease header for calls made inside `Connection.lease(...)`,
so that content, snapshots and images created while an image is loaded or pulled are
protected from containerd's GC without every method having to carry the lease along.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from ..errors import from_grpc
from .channel import ContainerdChannel
from .stubs import Stubs

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
        self._keys: dict[str, str] = {}  # route -> its key, made once per route

    def record(self, path: str) -> None:
        key = self._keys.get(path)
        if key is None:
            key = self._keys[path] = method_key(path)
        self._counts[key] += 1
        for observer in self._observers:
            observer(key)

    def observe(self, callback: Callable[[str], None]) -> None:
        """Also tell `callback` of each call (the daemon's metrics exporter uses this)."""
        self._observers.append(callback)

    def snapshot(self) -> dict[str, int]:
        return dict(self._counts)


class Connection:
    """A channel to containerd's socket, bound to one namespace; `close` ends it."""

    def __init__(self, address: str, namespace: str) -> None:
        self.address = address
        self.namespace = namespace
        self.counter = RpcCounter()
        # One variable per connection: a lease belongs to this containerd and namespace.
        self._lease: ContextVar[str | None] = ContextVar(
            f"containerd-lease-{id(self)}", default=None
        )
        self.channel = ContainerdChannel(address, namespace, self._lease, self.counter)
        self.stubs = Stubs(self.channel)

    @contextmanager
    def lease(self, lease_id: str) -> Iterator[None]:
        """Every RPC made inside (by this task and tasks it starts) carries `lease_id`."""
        token = self._lease.set(lease_id)
        try:
            yield
        finally:
            self._lease.reset(token)

    @property
    def current_lease(self) -> str | None:
        return self._lease.get()

    def counts(self) -> Mapping[str, int]:
        return self.counter.snapshot()

    async def close(self) -> None:
        await self.channel.close()


async def call(awaitable: Awaitable[T], container_id: str | None = None) -> T:
    """Await one RPC, turning gRPC failures into libcontainerd's typed errors."""
    try:
        return await awaitable
    except Exception as exc:
        raise from_grpc(exc, container_id) from exc
