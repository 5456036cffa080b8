"""IPv4 address management: which subnet a new network gets, and which address each of
its endpoints gets.

The default pools are dockerd's: 172.17.0.0/16 through 172.31.0.0/16, then the /20s
of 192.168.0.0/16, each handed out whole, the first one that overlaps no subnet in use
and no route of the daemon's namespace (the caller passes both).
The default `bridge` network takes the first (172.17.0.0/16) on a fresh daemon. Inside
a subnet the gateway is the first host address unless one is given, and endpoints get
the lowest free address of the pool (or of IPRange), as dockerd's allocator does
outside swarm.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from ..errors import Forbidden, InvalidParameter

# (base, size of each network carved from it), in dockerd's order; the daemon's
# default-address-pools replace them.
DEFAULT_POOLS: tuple[tuple[str, int], ...] = (
    *((f"172.{n}.0.0/16", 16) for n in range(17, 32)),
    ("192.168.0.0/16", 20),
)

NO_POOL = (
    "could not find an available, non-overlapping IPv4 address pool among the defaults "
    "to assign to the network"
)
POOL_OVERLAP = "Pool overlaps with other one on this address space"


def default_pools(pools: Sequence[tuple[str, int]] = DEFAULT_POOLS) -> Iterable[IPv4Network]:
    for base, size in pools:
        yield from IPv4Network(base).subnets(new_prefix=size)


def pick_subnet(
    in_use: Iterable[IPv4Network], pools: Sequence[tuple[str, int]] = DEFAULT_POOLS
) -> IPv4Network:
    """The first network of the default pools that overlaps none of `in_use`."""
    taken = list(in_use)
    for candidate in default_pools(pools):
        if not any(candidate.overlaps(other) for other in taken):
            return candidate
    raise Forbidden(NO_POOL)


def parse_subnet(text: str) -> IPv4Network:
    try:
        interface = ipaddress.ip_interface(text)
    except ValueError:
        raise InvalidParameter(f"invalid CIDR address: {text}") from None
    if "/" not in text:
        raise InvalidParameter(f"invalid CIDR address: {text}")
    if interface.version != 4:
        raise InvalidParameter("moorage supports IPv4 networks only")
    # dockerd takes 10.1.2.3/16 as the network 10.1.0.0/16.
    return IPv4Network(interface.network)


def parse_address(text: str) -> IPv4Address:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidParameter(f"invalid address: {text}") from None
    if address.version != 4:
        raise InvalidParameter("moorage supports IPv4 networks only")
    return IPv4Address(address)


@dataclass
class Pool:
    """One network's IPv4 configuration and the addresses handed out from it."""

    subnet: IPv4Network
    gateway: IPv4Address
    ip_range: IPv4Network | None = None
    allocated: set[IPv4Address] = field(default_factory=set)

    @classmethod
    def configure(cls, subnet: IPv4Network, gateway: str = "", ip_range: str = "") -> Pool:
        """A pool from a network's IPAM Config entry, checked as dockerd checks it."""
        if subnet.prefixlen > 30:
            raise InvalidParameter(f"invalid subnet {subnet}: too small for a network")
        rng = parse_subnet(ip_range) if ip_range else None
        if rng is not None and not (
            rng.network_address in subnet and rng.broadcast_address in subnet
        ):
            raise Forbidden(f"invalid pool request: {rng} is not a part of {subnet}")
        if gateway:
            gw = parse_address(gateway)
            if gw not in subnet:
                raise Forbidden(f"no matching subnet for gateway {gateway}")
        else:
            gw = subnet.network_address + 1
        return cls(subnet, gw, rng)

    @property
    def prefix_len(self) -> int:
        return self.subnet.prefixlen

    def _usable(self, address: IPv4Address) -> bool:
        return (
            address != self.subnet.network_address
            and address != self.subnet.broadcast_address
            and address != self.gateway
        )

    def allocate(self, wanted: str = "") -> IPv4Address:
        """`wanted` if given and free, else the lowest free address of the range."""
        if wanted:
            address = parse_address(wanted)
            if address not in self.subnet:
                raise InvalidParameter(
                    f"Invalid address {wanted}: It does not belong to any of this network's subnets"
                )
            if address in self.allocated or not self._usable(address):
                raise Forbidden("Address already in use")
            self.allocated.add(address)
            return address
        for address in (self.ip_range or self.subnet).hosts():
            if address not in self.allocated and self._usable(address):
                self.allocated.add(address)
                return address
        raise Forbidden("no available IPv4 addresses on this network's address pools")

    def release(self, address: IPv4Address) -> None:
        self.allocated.discard(address)


def mac_for(address: IPv4Address) -> str:
    """dockerd's MAC for an address: 02:42 then the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{byte:02x}" for byte in address.packed)
