"""Which names a container resolves through the embedded DNS server: those of the
running containers on the user-defined networks it is itself running on, by container
name, network-scoped alias (compose's service names are aliases) and short id, each
also as `<name>.<network>`; and the reverse, an address to `<name>.<network>`."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address

from .legacy_links import parse
from .manager import NetworkManager
from .model import Member, Network

SHORT_ID = 12


def member_names(member: Member) -> list[str]:
    """A member's names on its network, lower case (DNS names are compared so)."""
    names = [member.container_name, *member.aliases, member.container_id[:SHORT_ID]]
    return [name.lower() for name in names if name]


def _linked_name(asker: Member | None, name: str) -> str:
    """The name a link of the asker's on the network stands for (the name itself if none):
    dockerd's links on user networks are aliases only their container resolves."""
    for entry in asker.links if asker is not None else []:
        target, alias = parse(entry)
        if alias.lower() == name:
            return target.lower()
    return name


class NameIndex:
    def __init__(self, manager: NetworkManager) -> None:
        self.manager = manager

    def _shared(self, container_id: str) -> Iterator[Network]:
        """The user networks the asking container has an endpoint on."""
        for network, _ in self.manager.endpoints_of(container_id):
            if network.user_defined:
                yield network

    def lookup(self, container_id: str, name: str) -> list[IPv4Address]:
        found: list[IPv4Address] = []
        asked = name
        for network in self._shared(container_id):
            name = _linked_name(network.members.get(container_id), asked)
            suffix = "." + network.name.lower()
            wanted = {name, name[: -len(suffix)]} if name.endswith(suffix) else {name}
            for member_id, endpoint in network.endpoints.items():
                member = network.members.get(member_id)
                if member is None or endpoint.address in found:
                    continue
                if wanted.intersection(member_names(member)):
                    found.append(endpoint.address)
        return found

    def external_access(self, container_id: str) -> bool:
        """Some network of the container leads out (not all are Internal): only then are
        other names forwarded, as dockerd forwards from the container's own namespace."""
        return any(not network.internal for network, _ in self.manager.endpoints_of(container_id))

    def reverse(self, container_id: str, address: IPv4Address) -> str | None:
        for network in self._shared(container_id):
            for member_id, endpoint in network.endpoints.items():
                member = network.members.get(member_id)
                if endpoint.address == address and member is not None:
                    return f"{member.container_name}.{network.name}"
        return None
