"""The daemon's own nftables table (`ip moorage`): published ports, NAT and isolation
between bridges. Only this table is ever written; nothing of other tables, chains or
owners (docker, firewalld) is read or changed.

- Publishing is one element per port in a map from host port (or host address and
  port) to the container's address and port, so a start or an exit is one small
  `nft -f -` batch, and the DNAT rules never change.
- DNAT in prerouting (from outside and from containers) and output (from the host,
  127.0.0.1 included: that needs route_localnet=1 on the bridges, set where they are
  made). Traffic from 127/8 to a bridge, and DNATed traffic between bridge ports
  (hairpin: a container reaching itself or a neighbour through a published port,
  which also needs hairpin mode on the bridge port), is masqueraded; so is traffic from non-internal
  subnets leaving through another interface.
- The forward chain drops traffic between different bridges and in or out of an
  internal network's bridge, except what was published (DNATed).
- `rebuild` replaces the whole table in one transaction from the daemon's state
  (start, restore, a network made or removed), so the rules are exactly the state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from .. import errors
from .ports import Published

log = logging.getLogger(__name__)

TABLE = "moorage"
NFT = "nft"
NFT_TIMEOUT = 10.0


@dataclass(frozen=True)
class BridgeRules:
    device: str
    subnet: IPv4Network
    internal: bool


@dataclass(frozen=True)
class Forward:
    """One published port: where its traffic goes."""

    published: Published
    address: IPv4Address

    def map_and_element(self) -> tuple[str, str]:
        entry = self.published
        target = f"{self.address} . {entry.container_port}"
        if entry.host_ip:
            return f"{entry.proto}_ip", f"{entry.host_ip} . {entry.host_port} : {target}"
        return f"{entry.proto}_any", f"{entry.host_port} : {target}"


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def table_text(bridges: Sequence[BridgeRules], forwards: Sequence[Forward]) -> str:
    devices = [b.device for b in bridges]
    nat_subnets = [str(b.subnet) for b in bridges if not b.internal]
    maps: dict[str, list[str]] = {"tcp_any": [], "udp_any": [], "tcp_ip": [], "udp_ip": []}
    for forward in forwards:
        name, element = forward.map_and_element()
        maps[name].append(element)
    lines = [f"table ip {TABLE} {{"]
    lines.append("  set bridges { type ifname;" + _elements(_quoted(devices)) + " }")
    lines.append(
        "  set nat_subnets { type ipv4_addr; flags interval;"
        + _elements(", ".join(nat_subnets))
        + " }"
    )
    lines.append(
        "  set bridge_subnets { type ipv4_addr; flags interval;"
        + _elements(", ".join(str(b.subnet) for b in bridges))
        + " }"
    )
    for proto in ("tcp", "udp"):
        lines.append(
            f"  map {proto}_any {{ type inet_service : ipv4_addr . inet_service;"
            + _elements(", ".join(maps[f"{proto}_any"]))
            + " }"
        )
        lines.append(
            f"  map {proto}_ip {{ type ipv4_addr . inet_service : ipv4_addr . inet_service;"
            + _elements(", ".join(maps[f"{proto}_ip"]))
            + " }"
        )
    dnat = [
        f"    fib daddr type local dnat ip to ip daddr . {proto} dport map @{proto}_ip\n"
        f"    fib daddr type local dnat ip to {proto} dport map @{proto}_any"
        for proto in ("tcp", "udp")
    ]
    lines.append("  chain prerouting { type nat hook prerouting priority dstnat; policy accept;")
    lines += dnat
    lines.append("  }")
    lines.append("  chain output { type nat hook output priority -100; policy accept;")
    lines += dnat
    lines.append("  }")
    lines.append("  chain postrouting { type nat hook postrouting priority srcnat; policy accept;")
    lines.append("    ip saddr 127.0.0.0/8 oifname @bridges masquerade")
    # (iifname is not known in postrouting: the source subnet says it came from a bridge.)
    lines.append("    ct status dnat ip saddr @bridge_subnets oifname @bridges masquerade")
    lines.append("    ip saddr @nat_subnets oifname != @bridges masquerade")
    lines.append("  }")
    lines.append("  chain forward { type filter hook forward priority filter; policy accept;")
    lines.append("    ct status dnat accept")
    for bridge in bridges:
        name = f'"{bridge.device}"'
        if bridge.internal:
            lines.append(f"    iifname {name} oifname != {name} drop")
            lines.append(f"    oifname {name} iifname != {name} drop")
        else:
            lines.append(f"    iifname {name} oifname @bridges oifname != {name} drop")
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _elements(text: str) -> str:
    return f" elements = {{ {text} }};" if text else ""


class Firewall:
    def __init__(self, binary: str = NFT) -> None:
        self.binary = binary
        self._lock = asyncio.Lock()  # one nft transaction at a time, in order

    async def _apply(self, script: str) -> None:
        async with self._lock:
            proc = await asyncio.create_subprocess_exec(
                self.binary,
                "-f",
                "-",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                async with asyncio.timeout(NFT_TIMEOUT):
                    _, err = await proc.communicate(script.encode())
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        if proc.returncode:
            raise errors.SystemError(f"nftables: {err.decode().strip()}")

    async def rebuild(self, bridges: Sequence[BridgeRules], forwards: Sequence[Forward]) -> None:
        """Replace the table with exactly this state, in one transaction."""
        script = f"add table ip {TABLE}\ndelete table ip {TABLE}\n" + table_text(bridges, forwards)
        await self._apply(script)

    async def publish(self, forwards: Sequence[Forward]) -> None:
        await self._apply(self._elements("add", forwards))

    async def unpublish(self, forwards: Sequence[Forward]) -> None:
        await self._apply(self._elements("delete", forwards))

    @staticmethod
    def _elements(verb: str, forwards: Sequence[Forward]) -> str:
        lines = []
        for forward in forwards:
            name, element = forward.map_and_element()
            lines.append(f"{verb} element ip {TABLE} {name} {{ {element} }}")
        return "\n".join(lines) + "\n"

    async def remove(self) -> None:
        """Delete the table (only ours): when the daemon stops without live containers."""
        await self._apply(f"add table ip {TABLE}\ndelete table ip {TABLE}\n")
