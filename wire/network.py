"""``NetworkingConfig`` of a create request: network name -> endpoint settings."""

from typing import Annotated

from wire.base import ApiModel, OmitEmpty


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
