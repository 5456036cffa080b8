"""A network and its endpoints, as the daemon keeps them (and persists them, one JSON
document per network)."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from .ipam import Pool

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
class Endpoint:
    """One container's attachment to one network."""

    container_id: str
    container_name: str
    endpoint_id: str
    address: IPv4Address | None
    mac: str
    aliases: list[str] = field(default_factory=list)
    wanted_address: str = ""  # EndpointConfig.IPAMConfig.IPv4Address, if the user gave one

    def to_json(self) -> dict[str, Any]:
        return {
            "ContainerID": self.container_id,
            "ContainerName": self.container_name,
            "EndpointID": self.endpoint_id,
            "Address": str(self.address) if self.address else "",
            "MacAddress": self.mac,
            "Aliases": list(self.aliases),
            "WantedAddress": self.wanted_address,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Endpoint:
        address = doc.get("Address") or ""
        return cls(
            container_id=doc["ContainerID"],
            container_name=doc.get("ContainerName", ""),
            endpoint_id=doc["EndpointID"],
            address=IPv4Address(address) if address else None,
            mac=doc.get("MacAddress", ""),
            aliases=list(doc.get("Aliases") or []),
            wanted_address=doc.get("WantedAddress", ""),
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
    endpoints: dict[str, Endpoint] = field(default_factory=dict)  # by container id

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

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
            "Internal": self.internal,
            "Attachable": self.attachable,
            "EnableIPv6": self.enable_ipv6,
            "Options": dict(self.options),
            "Labels": dict(self.labels),
            "IPAMDriver": self.ipam_driver,
            "IPAMOptions": self.ipam_options,
            "IPAMConfigured": self.ipam_configured,
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
            )
        endpoints = [Endpoint.from_json(e) for e in doc.get("Endpoints") or []]
        if pool is not None:
            pool.allocated = {e.address for e in endpoints if e.address is not None}
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
            endpoints={e.container_id: e for e in endpoints},
        )
