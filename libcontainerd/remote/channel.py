"""grpclib's channel to containerd, with what it writes in one loop turn sent as one write.

grpclib writes each HTTP/2 frame batch to the socket as soon as h2 has made it: a
unary call is a write for its HEADERS and another for its DATA, in the same loop
turn, and every DATA frame received may add a write for the flow-control update.
Each write is a syscall that also wakes containerd. Here the channel's transport
gathers the writes made during one turn of the event loop and sends them together
at its end (`loop.call_soon`): the same bytes in the same order, one syscall and one
wake-up of containerd per turn instead of one per frame batch, and nothing later
than the turn that made it.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from grpclib.client import Channel, Handler
from grpclib.protocol import H2Protocol


class CoalescingTransport(asyncio.Transport):
    """Stands in for the socket's transport: `write` gathers, the loop turn's end sends."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return  # grpclib writes h2's data_to_send() even when it is empty
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()  # what grpclib wrote before closing (a GOAWAY, a reset) still goes
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))


class _CoalescingProtocol(H2Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but behave as one.)
        super().connection_made(CoalescingTransport(cast(asyncio.Transport, transport)))


class CoalescingChannel(Channel):
    def _protocol_factory(self) -> H2Protocol:
        # grpclib's own factory, with the transport wrapped (grpclib 0.4.x).
        return _CoalescingProtocol(Handler(), self._config, self._h2_config)
