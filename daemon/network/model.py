"""A network and its endpoints, as the daemon keeps them (and persists them, one JSON
document per network)."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from .ipam import Pool
from .ports import Published

BRIDGE = "bridge"
HOST = "host"
NONE = "none"
PREDEFINED = (BRIDGE, HOST, NONE)
# The default network's device: never docker0, so that a dockerd beside us is untouched.
DEFAULT_BRIDGE_DEVICE = "moorage0"
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
# The options dockerd shows on its default bridge network (its device name is ours).
DEFAULT_BRIDGE_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    BRIDGE_NAME_OPTION: DEFAULT_BRIDGE_DEVICE,
    "com.docker.network.driver.mtu": "1500",
}


@dataclass
class Member:
    """A container configured on a network (by its NetworkMode or a connect): it gets an
    endpoint whenever it runs, as in dockerd, where endpoints live from start to exit."""

    container_id: str
    container_name: str  # without Docker's leading slash
    aliases: list[str] = field(default_factory=list)
    wanted_address: str = ""  # EndpointConfig.IPAMConfig.IPv4Address, if the user gave one
    # When it joined (ns): interfaces are numbered in this order, NetworkMode's first.
    joined: int = 0
    # Links on a user network, "name:alias": names only this member resolves (alias to name).
    links: list[str] = field(default_factory=list)
    wanted_mac: str = ""  # Config.MacAddress (or the endpoint's), if the user gave one
    driver_opts: dict[str, str] = field(default_factory=dict)  # EndpointConfig.DriverOpts
    link_local_ips: list[str] = field(default_factory=list)  # IPAMConfig.LinkLocalIPs, as given
    # The network's id at the container's last start on it ("" before): dockerd's NetworkID,
    # which it keeps showing, and looks the network up by, once that network is removed.
    network_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "ContainerID": self.container_id,
            "ContainerName": self.container_name,
            "Aliases": list(self.aliases),
            "WantedAddress": self.wanted_address,
            "Joined": self.joined,
            "Links": list(self.links),
            "WantedMac": self.wanted_mac,
            "DriverOpts": dict(self.driver_opts),
            "LinkLocalIPs": list(self.link_local_ips),
            "NetworkID": self.network_id,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Member:
        return cls(
            container_id=doc["ContainerID"],
            container_name=doc.get("ContainerName", ""),
            aliases=list(doc.get("Aliases") or []),
            wanted_address=doc.get("WantedAddress", ""),
            joined=int(doc.get("Joined") or 0),
            links=[str(e) for e in doc.get("Links") or []],
            wanted_mac=str(doc.get("WantedMac") or ""),
            driver_opts={str(k): str(v) for k, v in (doc.get("DriverOpts") or {}).items()},
            link_local_ips=[str(e) for e in doc.get("LinkLocalIPs") or []],
            network_id=str(doc.get("NetworkID") or ""),
        )


@dataclass
class Endpoint:
    """A running container's attachment: its address, MAC and the links that carry it."""

    container_id: str
    endpoint_id: str
    address: IPv4Address
    mac: str
    ifname: str  # inside the container: eth0, eth1, ...
    host_ifname: str  # the veth end on the bridge
    # Published ports, on the container's first endpoint (their DNAT target).
    ports: list[Published] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ContainerID": self.container_id,
            "EndpointID": self.endpoint_id,
            "Address": str(self.address),
            "MacAddress": self.mac,
            "IfName": self.ifname,
            "HostIfName": self.host_ifname,
            "Ports": [entry.to_json() for entry in self.ports],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Endpoint:
        return cls(
            container_id=doc["ContainerID"],
            endpoint_id=doc["EndpointID"],
            address=IPv4Address(doc["Address"]),
            mac=doc.get("MacAddress", ""),
            ifname=doc.get("IfName", "eth0"),
            host_ifname=doc.get("HostIfName", ""),
            ports=[Published.from_json(entry) for entry in doc.get("Ports") or []],
        )


@dataclass
class Network:
    id: str
    name: str
    driver: str
    created: str
    pool: Pool | None = None  # None for host and none
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    ipam_driver: str = "default"
    ipam_options: dict[str, str] | None = None
    # True when the user gave the IPAM Config (inspect shows only what was given).
    ipam_configured: bool = False
    members: dict[str, Member] = field(default_factory=dict)  # by container id
    endpoints: dict[str, Endpoint] = field(default_factory=dict)  # by container id

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def user_defined(self) -> bool:
        """Made by a user: its containers resolve each other (the embedded DNS)."""
        return not self.predefined and self.driver == BRIDGE

    @property
    def device(self) -> str:
        """The bridge device of a bridge network."""
        if self.name == BRIDGE:
            return DEFAULT_BRIDGE_DEVICE
        return self.options.get(BRIDGE_NAME_OPTION) or f"br-{self.id[:12]}"

    def to_json(self) -> dict[str, Any]:
        pool = self.pool
        return {
            "ID": self.id,
            "Name": self.name,
            "Driver": self.driver,
            "Created": self.created,
            "Subnet": str(pool.subnet) if pool else "",
            "Gateway": str(pool.gateway) if pool else "",
            "IPRange": str(pool.ip_range) if pool and pool.ip_range else "",
            "AuxAddresses": {k: str(v) for k, v in pool.aux.items()} if pool else {},
            "Internal": self.internal,
            "Attachable": self.attachable,
            "EnableIPv6": self.enable_ipv6,
            "Options": dict(self.options),
            "Labels": dict(self.labels),
            "IPAMDriver": self.ipam_driver,
            "IPAMOptions": self.ipam_options,
            "IPAMConfigured": self.ipam_configured,
            "Members": [member.to_json() for member in self.members.values()],
            "Endpoints": [endpoint.to_json() for endpoint in self.endpoints.values()],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Network:
        pool = None
        if doc.get("Subnet"):
            ip_range = doc.get("IPRange") or ""
            pool = Pool(
                IPv4Network(doc["Subnet"]),
                IPv4Address(doc["Gateway"]),
                IPv4Network(ip_range) if ip_range else None,
                aux={k: IPv4Address(v) for k, v in (doc.get("AuxAddresses") or {}).items()},
            )
        endpoints = [Endpoint.from_json(e) for e in doc.get("Endpoints") or []]
        if pool is not None:
            pool.allocated = {e.address for e in endpoints}
        members = [Member.from_json(m) for m in doc.get("Members") or []]
        return cls(
            id=doc["ID"],
            name=doc["Name"],
            driver=doc["Driver"],
            created=doc["Created"],
            pool=pool,
            internal=bool(doc.get("Internal")),
            attachable=bool(doc.get("Attachable")),
            enable_ipv6=bool(doc.get("EnableIPv6")),
            options=dict(doc.get("Options") or {}),
            labels=dict(doc.get("Labels") or {}),
            ipam_driver=doc.get("IPAMDriver") or "default",
            ipam_options=doc.get("IPAMOptions"),
            ipam_configured=bool(doc.get("IPAMConfigured")),
            members={m.container_id: m for m in members},
            endpoints={e.container_id: e for e in endpoints},
        )
