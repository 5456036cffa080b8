"""Exec bodies: create, start, inspect."""

from typing import Annotated

from pydantic import ConfigDict

from api.models.base import ApiModel, OmitEmpty, StrSlice, UintPair


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
    Cmd: StrSlice = None


class IdResponse(ApiModel):
    """``{"Id": ...}``: exec create's reply."""

    Id: str


class ExecStartRequest(ApiModel):
    """``POST /exec/{id}/start``."""

    Detach: bool = False
    Tty: bool = False
    ConsoleSize: Annotated[UintPair | None, OmitEmpty] = None


class ExecProcessConfig(ApiModel):
    tty: bool = False
    entrypoint: str = ""
    arguments: list[str] | None = None
    privileged: Annotated[bool | None, OmitEmpty] = None
    user: Annotated[str, OmitEmpty] = ""


class ExecInspect(ApiModel):
    """``GET /exec/{id}/json``. ExitCode stays null while the process runs."""

    # DetachKeys is a Go []byte: base64 in JSON.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    ID: str = ""
    Running: bool = False
    ExitCode: int | None = None
    ProcessConfig: ExecProcessConfig | None = None
    OpenStdin: bool = False
    OpenStderr: bool = False
    OpenStdout: bool = False
    CanRemove: bool = False
    ContainerID: str = ""
    DetachKeys: bytes | None = None
    Pid: int = 0
