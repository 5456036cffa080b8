"""``POST /volumes/create``."""

from wire.base import ApiModel


class VolumeCreateRequest(ApiModel):
    Name: str = ""
    Driver: str = ""
    DriverOpts: dict[str, str] | None = None
    Labels: dict[str, str] | None = None
