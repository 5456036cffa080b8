"""Published ports: what a container asks for (PortBindings, PublishAllPorts with
ExposedPorts), the host ports it gets, and the sockets that hold them.

Each published host port is held by a bound (not listening) socket of the daemon, as
dockerd's proxy holds it: a port that another process already uses fails the start
with dockerd's text, and no other process can take a published port. Traffic never
reaches these sockets: nftables redirects it to the container before local delivery.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import errors

# dockerd's default range for ports it picks (its portallocator's), unless the
# kernel's ephemeral range says otherwise.
EPHEMERAL_DEFAULT = (49153, 65535)
_LOCAL_PORT_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"


@dataclass(frozen=True)
class PortRequest:
    proto: str  # "tcp" or "udp"
    container_port: int
    host_ip: str  # "" for every address
    low: int  # 0: any free port
    high: int


@dataclass(frozen=True)
class Published:
    proto: str
    container_port: int
    host_ip: str
    host_port: int

    @property
    def shown_ip(self) -> str:
        return self.host_ip or "0.0.0.0"

    def to_json(self) -> dict[str, Any]:
        return {
            "Proto": self.proto,
            "ContainerPort": self.container_port,
            "HostIp": self.host_ip,
            "HostPort": self.host_port,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Published:
        return cls(doc["Proto"], int(doc["ContainerPort"]), doc["HostIp"], int(doc["HostPort"]))


def split_port(key: str) -> tuple[int, str]:
    """ "80/tcp" -> (80, "tcp"); "53" -> (53, "tcp")."""
    number, _, proto = key.partition("/")
    return int(number), (proto or "tcp").lower()


def requests_of(config: Mapping[str, Any], host_config: Mapping[str, Any]) -> list[PortRequest]:
    """What the container asks to publish, in a stable order."""
    bindings: Mapping[str, Any] = host_config.get("PortBindings") or {}
    found: list[PortRequest] = []
    for key in sorted(bindings, key=split_port):
        port, proto = split_port(key)
        for binding in bindings[key] or [{}]:
            host_port = str((binding or {}).get("HostPort") or "")
            low, _, high = host_port.partition("-")
            found.append(
                PortRequest(
                    proto,
                    port,
                    str((binding or {}).get("HostIp") or ""),
                    int(low) if low else 0,
                    int(high or low) if low else 0,
                )
            )
    if host_config.get("PublishAllPorts"):
        for key in sorted(config.get("ExposedPorts") or {}, key=split_port):
            if key not in bindings:
                port, proto = split_port(key)
                found.append(PortRequest(proto, port, "", 0, 0))
    return found


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open(_LOCAL_PORT_RANGE) as f:
            low, high = (int(part) for part in f.read().split())
            return low, high
    except (OSError, ValueError):
        return EPHEMERAL_DEFAULT


class PortHolder:
    """The sockets that hold published host ports, by (proto, host ip, port)."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str, int], socket.socket] = {}

    def _bind(self, proto: str, host_ip: str, port: int) -> socket.socket:
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET, kind)
        try:
            sock.bind((host_ip or "0.0.0.0", port))
        except BaseException:
            sock.close()
            raise
        return sock

    def _taken(self, proto: str, host_ip: str, port: int) -> bool:
        """Held by us for the same or an overlapping address."""
        return any(
            p == proto and n == port and (not host_ip or not ip or ip == host_ip)
            for (p, ip, n) in self._held
        )

    def hold(self, requests: Iterable[PortRequest], endpoint_name: str) -> list[Published]:
        """Hold a host port for every request, all or none (dockerd's texts on failure)."""
        done: list[Published] = []
        try:
            for request in requests:
                done.append(self._hold_one(request, endpoint_name))
        except BaseException:
            self.release(done)
            raise
        return done

    def _hold_one(self, request: PortRequest, endpoint_name: str) -> Published:
        low, high = (request.low, request.high) if request.low else _ephemeral_range()
        shown = request.host_ip or "0.0.0.0"
        prefix = f"driver failed programming external connectivity on endpoint {endpoint_name}"
        for port in range(low, high + 1):
            if self._taken(request.proto, request.host_ip, port):
                if request.low == request.high and request.low:
                    raise errors.SystemError(
                        f"{prefix}: Bind for {shown}:{port} failed: port is already allocated"
                    )
                continue
            try:
                sock = self._bind(request.proto, request.host_ip, port)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise errors.SystemError(f"{prefix}: {exc}") from None
                if request.low == request.high and request.low:
                    raise errors.SystemError(
                        f"{prefix}: Error starting userland proxy: listen {request.proto}4 "
                        f"{shown}:{port}: bind: address already in use"
                    ) from None
                continue
            self._held[(request.proto, request.host_ip, port)] = sock
            return Published(request.proto, request.container_port, request.host_ip, port)
        raise errors.SystemError(
            f"{prefix}: Bind for {shown}:{request.low or low}-{request.high or high} failed: "
            "no free port in the range"
        )

    def adopt(self, published: Iterable[Published]) -> None:
        """Hold again what a running container had before a daemon restart (best effort:
        a port taken meanwhile is logged by the caller, its rule still works)."""
        for entry in published:
            key = (entry.proto, entry.host_ip, entry.host_port)
            if key not in self._held:
                with contextlib.suppress(OSError):
                    self._held[key] = self._bind(entry.proto, entry.host_ip, entry.host_port)

    def release(self, published: Iterable[Published]) -> None:
        for entry in published:
            sock = self._held.pop((entry.proto, entry.host_ip, entry.host_port), None)
            if sock is not None:
                sock.close()

    def close(self) -> None:
        for sock in self._held.values():
            sock.close()
        self._held.clear()
