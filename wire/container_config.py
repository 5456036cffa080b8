"""Config: the portable part of a container's definition (image, command, env, tty).

The one definition of its shape: the create request reads it, and
`ContainerConfig.encode` writes it for inspect, image inspect and the legacy image
configs of docker save.
"""

from typing import Annotated, Any

from wire.base import ApiModel, OmitEmpty, StrSlice


class HealthConfig(ApiModel):
    """Durations are in nanoseconds."""

    Test: Annotated[list[str] | None, OmitEmpty] = None
    Interval: Annotated[int, OmitEmpty] = 0
    Timeout: Annotated[int, OmitEmpty] = 0
    StartPeriod: Annotated[int, OmitEmpty] = 0
    StartInterval: Annotated[int, OmitEmpty] = 0  # API 1.44
    Retries: Annotated[int, OmitEmpty] = 0


class ContainerConfig(ApiModel):
    """``Config`` in inspect; its fields sit at the top level of a create body."""

    Hostname: str = ""
    Domainname: str = ""
    User: str = ""
    AttachStdin: bool = False
    AttachStdout: bool = False
    AttachStderr: bool = False
    # Go's map[string]struct{}: {"80/tcp": {}}.
    ExposedPorts: Annotated[dict[str, dict[str, Any]] | None, OmitEmpty] = None
    Tty: bool = False
    OpenStdin: bool = False
    StdinOnce: bool = False
    Env: list[str] | None = None
    Cmd: StrSlice = None
    Healthcheck: Annotated[HealthConfig | None, OmitEmpty] = None
    ArgsEscaped: Annotated[bool, OmitEmpty] = False
    Image: str = ""
    Volumes: dict[str, dict[str, Any]] | None = None
    WorkingDir: str = ""
    Entrypoint: StrSlice = None
    NetworkDisabled: Annotated[bool, OmitEmpty] = False
    MacAddress: Annotated[str, OmitEmpty] = ""
    OnBuild: list[str] | None = None
    Labels: dict[str, str] | None = None
    StopSignal: Annotated[str, OmitEmpty] = ""
    StopTimeout: Annotated[int | None, OmitEmpty] = None
    Shell: Annotated[StrSlice, OmitEmpty] = None
