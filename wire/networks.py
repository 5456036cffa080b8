"""Request bodies of the networks API: ``POST /networks/create``, ``/connect`` and
``/disconnect``."""

from typing import Any

from wire.api_versions import NETWORK_ENABLE_IPV4, NETWORK_STATUS, ApiVersion
from wire.base import ApiModel
from wire.network import EndpointSettings


class IPAMConfig(ApiModel):
    Subnet: str = ""
    IPRange: str = ""
    Gateway: str = ""
    AuxiliaryAddresses: dict[str, str] | None = None


class NetworkIPAM(ApiModel):
    Driver: str = ""
    Config: list[IPAMConfig] | None = None
    Options: dict[str, str] | None = None


class NetworkCreateRequest(ApiModel):
    Name: str = ""
    CheckDuplicate: bool = False
    Driver: str = ""
    Scope: str = ""
    Internal: bool = False
    Attachable: bool = False
    Ingress: bool = False
    ConfigOnly: bool = False
    IPAM: NetworkIPAM | None = None
    EnableIPv4: bool | None = None  # API 1.48
    EnableIPv6: bool = False
    Options: dict[str, str] | None = None
    Labels: dict[str, str] | None = None


class NetworkConnectRequest(ApiModel):
    Container: str = ""
    EndpointConfig: EndpointSettings | None = None


class NetworkDisconnectRequest(ApiModel):
    Container: str = ""
    Force: bool = False


def network_at(network: dict[str, Any], version: ApiVersion) -> dict[str, Any]:
    """A network's JSON (built at the newest version) as `version` shows it."""
    out = dict(network)
    if not NETWORK_ENABLE_IPV4.applies(version):
        out.pop("EnableIPv4", None)
    if not NETWORK_STATUS.applies(version):
        out.pop("Status", None)
    return out
