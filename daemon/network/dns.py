"""The embedded DNS server: 127.0.0.11:53 (UDP and TCP) inside each container on a
user-defined network, served by the daemon's own event loop.

The sockets are made and bound by a thread inside the container's namespace (see
`open_listeners`, called by `links` while it is there) and handed to the loop, which
serves them from then on: a socket keeps the namespace it was made in. A query for a
container on one of the asking container's networks is answered here; any other is
forwarded to the container's upstream resolvers (its --dns, else the host's; see
`Forwarding`) from the daemon's namespace, within FORWARD_BUDGET seconds in all, after
which the answer is SERVFAIL: a lookup never hangs on resolvers that cannot be reached.
A container only on Internal networks has nothing forwarded (SERVFAIL at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address
from typing import TYPE_CHECKING

from ..oci.etc_files import Forwarding

if TYPE_CHECKING:
    from dnslib import DNSRecord

log = logging.getLogger(__name__)

RESOLVER_ADDRESS = "127.0.0.11"
PORT = 53
TTL = 600  # what dockerd's resolver gives its own records
FORWARD_BUDGET = 0.9  # seconds for every upstream together
TCP_IDLE_TIMEOUT = 10.0
MAX_INFLIGHT = 64  # per container: more queries at once are dropped (the client retries)
MAX_TCP_CONNECTIONS = 16  # per container

# (asking container id, name) -> addresses; (asking container id, address) -> name.
Lookup = Callable[[str, str], list[IPv4Address]]
Reverse = Callable[[str, IPv4Address], str | None]
Reach = Callable[[str], bool]  # asking container id -> may its queries be forwarded


def open_listeners() -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets bound at 127.0.0.11:53 in the calling thread's namespace
    (`lo` must be up). Non-blocking, for the loop; the caller owns them."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        udp.setblocking(False)
        udp.bind((RESOLVER_ADDRESS, PORT))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            tcp.setblocking(False)
            # A restarted daemon binds again while old connections may sit in TIME_WAIT.
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((RESOLVER_ADDRESS, PORT))
            tcp.listen(MAX_TCP_CONNECTIONS)
        except BaseException:
            tcp.close()
            raise
    except BaseException:
        udp.close()
        raise
    return udp, tcp


def _address_of_reverse(name: str) -> IPv4Address | None:
    if not name.endswith(".in-addr.arpa"):
        return None
    parts = name[: -len(".in-addr.arpa")].split(".")
    if len(parts) != 4:
        return None
    try:
        found = ip_address(".".join(reversed(parts)))
    except ValueError:
        return None
    return found if isinstance(found, IPv4Address) else None


class _UdpExchange(asyncio.DatagramProtocol):
    """One query to one upstream: the first datagram with the query's id answers it."""

    def __init__(self, query_id: bytes) -> None:
        self.query_id = query_id
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if data[:2] == self.query_id and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


async def _ask_upstream(server: str, query: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _UdpExchange(query[:2]), remote_addr=(server, PORT)
    )
    try:
        transport.sendto(query)
        return await protocol.reply
    finally:
        transport.close()


async def forward(query: bytes, servers: Sequence[str]) -> bytes | None:
    """The first upstream answer to `query`, or None when none came within the budget
    (each server gets an equal share of what is left; unreachable ones fail at once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FORWARD_BUDGET
    for index, server in enumerate(servers):
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            async with asyncio.timeout(remaining / (len(servers) - index)):
                return await _ask_upstream(server, query)
        except (OSError, TimeoutError):
            continue
    return None


@dataclass
class _Listener:
    """One container's server: its UDP transport, TCP server and the queries in flight."""

    udp: asyncio.DatagramTransport | None = None
    tcp: asyncio.Server | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    connections: int = 0


class Resolver:
    def __init__(self, lookup: Lookup, reverse: Reverse, external_access: Reach) -> None:
        self._lookup = lookup
        self._reverse = reverse
        self._external_access = external_access
        self._listeners: dict[str, _Listener] = {}
        self._forwarding: dict[str, Forwarding] = {}

    def serving(self, container_id: str) -> bool:
        return container_id in self._listeners

    async def serve(
        self,
        container_id: str,
        sockets: tuple[socket.socket, socket.socket],
        forwarding: Forwarding,
    ) -> None:
        """Serve the container's bound sockets (now owned here, closed by `stop`)."""
        udp_sock, tcp_sock = sockets
        if container_id in self._listeners:
            udp_sock.close()
            tcp_sock.close()
            return
        loop = asyncio.get_running_loop()
        listener = _Listener()
        self._listeners[container_id] = listener
        self._forwarding[container_id] = forwarding
        try:
            listener.udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpServer(self, container_id, listener), sock=udp_sock
            )
        except BaseException:
            udp_sock.close()
            tcp_sock.close()
            await self.stop(container_id)
            raise
        try:
            listener.tcp = await asyncio.start_server(
                lambda r, w: self._tcp_connection(container_id, listener, r, w), sock=tcp_sock
            )
        except BaseException:
            tcp_sock.close()
            await self.stop(container_id)
            raise

    async def stop(self, container_id: str) -> None:
        listener = self._listeners.pop(container_id, None)
        self._forwarding.pop(container_id, None)
        if listener is None:
            return
        if listener.udp is not None:
            listener.udp.close()
        if listener.tcp is not None:
            listener.tcp.close()
            # Open connections are closed by cancelling their handlers below.
        tasks = list(listener.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        for container_id in list(self._listeners):
            await self.stop(container_id)

    # -- answers ---------------------------------------------------------------------------

    async def answer(self, container_id: str, data: bytes) -> bytes | None:
        """The reply to one query, or None to drop it (not a query at all)."""
        # dnslib at the first query: a daemon without bridged containers never needs it.
        from dnslib import QTYPE, RCODE, DNSError, DNSRecord

        try:
            request = DNSRecord.parse(data)
        except (DNSError, ValueError, IndexError, struct.error):
            return None
        if request.header.qr:
            return None  # a response: never answer those
        if len(request.questions) != 1:
            reply = request.reply()
            reply.header.rcode = RCODE.FORMERR
            return bytes(reply.pack())
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        local = self._answer_locally(container_id, request, name, question.qtype)
        if local is not None:
            return local
        forwarding = self._forwarding.get(container_id) or Forwarding([], False)
        if forwarding.ndots_set and question.qtype in (QTYPE.A, QTYPE.AAAA) and "." not in name:
            return bytes(request.reply().pack())  # the client goes on with its search list
        upstreams = forwarding.upstreams if self._external_access(container_id) else []
        answer = await forward(data, upstreams)
        if answer is not None:
            return answer
        reply = request.reply()
        reply.header.rcode = RCODE.SERVFAIL
        return bytes(reply.pack())

    def _answer_locally(
        self, container_id: str, request: DNSRecord, name: str, qtype: int
    ) -> bytes | None:
        from dnslib import PTR, QTYPE, RR, A  # loaded by answer() already

        reply = request.reply()
        reply.header.aa = 0
        if qtype == QTYPE.PTR:
            address = _address_of_reverse(name)
            found = self._reverse(container_id, address) if address is not None else None
            if found is None:
                return None
            reply.add_answer(RR(request.q.qname, QTYPE.PTR, rdata=PTR(found + "."), ttl=TTL))
            return bytes(reply.pack())
        addresses = self._lookup(container_id, name) if name else []
        if not addresses:
            return None
        if qtype in (QTYPE.A, QTYPE.ANY):
            for address in addresses:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(str(address)), ttl=TTL))
        # Other types of a container's name (AAAA: no IPv6 here) are known and empty.
        return bytes(reply.pack())

    # -- transports ----------------------------------------------------------------------

    async def _tcp_connection(
        self,
        container_id: str,
        listener: _Listener,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        task = asyncio.current_task()
        if listener.connections >= MAX_TCP_CONNECTIONS or task is None:
            writer.close()
            return
        listener.connections += 1
        listener.tasks.add(task)
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    query = await reader.readexactly(length)
                reply = await self.answer(container_id, query)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        except Exception as exc:
            log.error("embedded DNS (tcp) of %s: %s", container_id[:12], exc)
        finally:
            listener.connections -= 1
            listener.tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _UdpServer(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver, container_id: str, listener: _Listener) -> None:
        self.resolver = resolver
        self.container_id = container_id
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if len(self.listener.tasks) >= MAX_INFLIGHT:
            return
        task = asyncio.get_running_loop().create_task(self._reply(data, addr))
        self.listener.tasks.add(task)
        task.add_done_callback(self.listener.tasks.discard)

    async def _reply(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            reply = await self.resolver.answer(self.container_id, data)
        except Exception as exc:
            log.error("embedded DNS of %s: %s", self.container_id[:12], exc)
            return
        transport = self.listener.udp
        if reply is not None and transport is not None and not transport.is_closing():
            transport.sendto(reply, addr)
