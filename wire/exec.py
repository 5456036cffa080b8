"""Exec bodies: create and start requests (pydantic); create and inspect replies."""

from typing import Annotated, NotRequired, TypedDict

from wire.base import ApiModel, OmitEmpty, UintPair


class ExecCreateRequest(ApiModel):
    """``POST /containers/{id}/exec``."""

    User: str = ""
    Privileged: bool = False
    Tty: bool = False
    ConsoleSize: Annotated[UintPair | None, OmitEmpty] = None
    AttachStdin: bool = False
    AttachStderr: bool = False
    AttachStdout: bool = False
    Detach: bool = False
    DetachKeys: str = ""
    Env: list[str] | None = None
    WorkingDir: str = ""
    Cmd: list[str] | None = None  # a []string in dockerd (no string form, unlike Config.Cmd)


class ExecStartRequest(ApiModel):
    """``POST /exec/{id}/start``."""

    Detach: bool = False
    Tty: bool = False
    ConsoleSize: Annotated[UintPair | None, OmitEmpty] = None


class ExecCreateResponse(TypedDict):
    Id: str


class ExecProcessConfig(TypedDict):
    tty: bool
    entrypoint: str
    arguments: list[str]
    privileged: NotRequired[bool]  # a pointer: written when set, even false
    user: NotRequired[str]  # omitempty


class ExecInspect(TypedDict):
    """``GET /exec/{id}/json``. ExitCode stays null while the process runs."""

    ID: str
    Running: bool
    ExitCode: int | None
    ProcessConfig: ExecProcessConfig
    OpenStdin: bool
    OpenStderr: bool
    OpenStdout: bool
    CanRemove: bool
    ContainerID: str
    DetachKeys: str  # a Go []byte: base64
    Pid: int
