"""Network settings of a container, as far as a container without networks has them."""

from typing import Annotated

from api.models.base import ApiModel, OmitEmpty
from api.models.host_config import PortMap


class EndpointIPAMConfig(ApiModel):
    IPv4Address: Annotated[str, OmitEmpty] = ""
    IPv6Address: Annotated[str, OmitEmpty] = ""
    LinkLocalIPs: Annotated[list[str] | None, OmitEmpty] = None


class EndpointSettings(ApiModel):
    IPAMConfig: EndpointIPAMConfig | None = None
    Links: list[str] | None = None
    Aliases: list[str] | None = None
    NetworkID: str = ""
    EndpointID: str = ""
    Gateway: str = ""
    IPAddress: str = ""
    IPPrefixLen: int = 0
    IPv6Gateway: str = ""
    GlobalIPv6Address: str = ""
    GlobalIPv6PrefixLen: int = 0
    MacAddress: str = ""
    DriverOpts: dict[str, str] | None = None


class NetworkingConfig(ApiModel):
    """The ``NetworkingConfig`` of a create body: network name -> endpoint."""

    EndpointsConfig: dict[str, EndpointSettings | None] | None = None


class Address(ApiModel):
    Addr: str = ""
    PrefixLen: int = 0


class NetworkSettings(ApiModel):
    """``NetworkSettings`` of inspect."""

    Bridge: str = ""
    SandboxID: str = ""
    HairpinMode: bool = False
    LinkLocalIPv6Address: str = ""
    LinkLocalIPv6PrefixLen: int = 0
    Ports: PortMap | None = None
    SandboxKey: str = ""
    SecondaryIPAddresses: list[Address] | None = None
    SecondaryIPv6Addresses: list[Address] | None = None
    EndpointID: str = ""
    Gateway: str = ""
    GlobalIPv6Address: str = ""
    GlobalIPv6PrefixLen: int = 0
    IPAddress: str = ""
    IPPrefixLen: int = 0
    IPv6Gateway: str = ""
    MacAddress: str = ""
    Networks: dict[str, EndpointSettings | None] | None = None


class SummaryNetworkSettings(ApiModel):
    """``NetworkSettings`` of a ``GET /containers/json`` entry."""

    Networks: dict[str, EndpointSettings | None] | None = None


class Port(ApiModel):
    """A published or exposed port in ``GET /containers/json``."""

    IP: Annotated[str, OmitEmpty] = ""
    PrivatePort: int = 0
    PublicPort: Annotated[int, OmitEmpty] = 0
    Type: str = ""
