"""IPv4 address management: which subnet a new network gets, and which address each of
its endpoints gets.

The default pools are dockerd's: 172.17.0.0/16 through 172.31.0.0/16, then the /20s
of 192.168.0.0/16, each handed out whole, the first one that overlaps no subnet in use
and no route of the daemon's namespace (the caller passes both).
The default `bridge` network takes the first (172.17.0.0/16) on a fresh daemon. Inside
a subnet the gateway is the first host address unless one is given, and endpoints get
the lowest free address of the pool (or of IPRange), as dockerd's allocator does
outside swarm.

Auxiliary addresses (IPAM Config's AuxiliaryAddresses: name -> address) are addresses
of the subnet that something outside the daemon uses: they must lie in the subnet, and
those inside the range containers get addresses from are reserved, never handed out,
as dockerd reserves them (one outside the range is kept and shown only).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Interface

from .. import errors
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
    aux: dict[str, IPv4Address] = field(default_factory=dict)  # AuxiliaryAddresses

    @classmethod
    def configure(
        cls,
        subnet: IPv4Network,
        gateway: str = "",
        ip_range: str = "",
        aux: Mapping[str, str] | None = None,
        network: str = "",
    ) -> Pool:
        """A pool from a network's IPAM Config entry (of the network named `network`),
        checked as dockerd checks it."""
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
        pool = cls(subnet, gw, rng)
        for name, text in (aux or {}).items():
            pool.aux[name] = pool._auxiliary(name, text, network)
        return pool

    def _auxiliary(self, name: str, text: str, network: str) -> IPv4Address:
        """One auxiliary address, checked against the subnet and, inside the range, against
        the addresses taken already (dockerd's texts and statuses)."""
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise InvalidParameter(
                f"non parsable secondary ip address ({name}:{text}) passed for network {network}"
            ) from None
        if not isinstance(address, IPv4Address) or address not in self.subnet:
            raise Forbidden(
                f"auxiliary address: ({name}:{text}) must belong to the master pool: {self.subnet}"
            )
        if self._reserves(address) and (not self._usable(address) or address in self.aux.values()):
            raise errors.SystemError(
                f"failed to allocate secondary ip address ({name}:{text}): Address already in use"
            )
        return address

    def _reserves(self, address: IPv4Address) -> bool:
        """Whether an auxiliary address is held back from endpoints: in the range they get
        addresses from (dockerd's allocator ignores one outside it)."""
        return address in (self.ip_range or self.subnet)

    @property
    def reserved(self) -> set[IPv4Address]:
        """The auxiliary addresses held back from endpoints."""
        return {address for address in self.aux.values() if self._reserves(address)}

    @property
    def prefix_len(self) -> int:
        return self.subnet.prefixlen

    def _usable(self, address: IPv4Address) -> bool:
        return (
            address != self.subnet.network_address
            and address != self.subnet.broadcast_address
            and address != self.gateway
        )

    def _free(self, address: IPv4Address) -> bool:
        return (
            address not in self.allocated
            and self._usable(address)
            and address not in self.aux.values()
        )

    def allocate(self, wanted: str = "") -> IPv4Address:
        """`wanted` if given and free, else the lowest free address of the range."""
        if wanted:
            address = parse_address(wanted)
            if address not in self.subnet:
                raise InvalidParameter(
                    f"Invalid address {wanted}: It does not belong to any of this network's subnets"
                )
            if not self._free(address):
                raise Forbidden("Address already in use")
            self.allocated.add(address)
            return address
        for address in (self.ip_range or self.subnet).hosts():
            if self._free(address):
                self.allocated.add(address)
                return address
        raise Forbidden("no available IPv4 addresses on this network's address pools")

    def release(self, address: IPv4Address) -> None:
        self.allocated.discard(address)


def link_local_interfaces(ips: Sequence[str]) -> list[IPv4Interface | IPv6Interface]:
    """An endpoint's IPAMConfig.LinkLocalIPs as the addresses its interface gets: /16 for
    IPv4, /64 for IPv6, as dockerd 20.10 adds them. Checked when the endpoint is made (at
    start or at a connect of a running container), where dockerd checks them, with its
    texts and status: both an address that does not parse (which fails the whole list) and
    one that parses but is not link-local (169.254/16, fe80::/10) are answered 500 by
    dockerd 20.10.24, at a start and at a connect alike."""
    addresses = []
    for text in ips:
        try:
            addresses.append(ipaddress.ip_address(text) if text else None)
        except ValueError:
            # Go prints the list as [a b c].
            raise errors.SystemError(f"Invalid link-local IP address: [{' '.join(ips)}]") from None
    interfaces: list[IPv4Interface | IPv6Interface] = []
    for address in addresses:
        if address is None or not address.is_link_local:
            raise errors.SystemError(f"invalid link local IP address: {address or '<nil>'}")
        if isinstance(address, IPv4Address):
            interfaces.append(IPv4Interface(f"{address}/16"))
        else:
            interfaces.append(IPv6Interface(f"{address}/64"))
    return interfaces


def mac_for(address: IPv4Address) -> str:
    """dockerd's MAC for an address: 02:42 then the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{byte:02x}" for byte in address.packed)
