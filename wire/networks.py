"""Request bodies of the networks API: ``POST /networks/create``, ``/connect`` and
``/disconnect``."""

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
    EnableIPv6: bool = False
    Options: dict[str, str] | None = None
    Labels: dict[str, str] | None = None


class NetworkConnectRequest(ApiModel):
    Container: str = ""
    EndpointConfig: EndpointSettings | None = None


class NetworkDisconnectRequest(ApiModel):
    Container: str = ""
    Force: bool = False
