"""``POST /volumes/create``."""

from api.models.base import ApiModel


class VolumeCreateRequest(ApiModel):
    Name: str = ""
    Driver: str = ""
    DriverOpts: dict[str, str] | None = None
    Labels: dict[str, str] | None = None
