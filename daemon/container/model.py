"""A container as the daemon keeps it: its Docker config, its state and where its files are."""

from __future__ import annotations

import copy
import enum
import os
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.timefmt import ZERO_TIME, now_rfc3339_nano, rfc3339_nano
from wire.container import Health

# A container's own times (Created, StartedAt, FinishedAt) keep all nine digits.


def now_rfc3339() -> str:
    return now_rfc3339_nano(fixed=True)


def format_time(value: datetime | None) -> str:
    return rfc3339_nano(value, fixed=True)


class Status(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


@dataclass
class State:
    status: Status = Status.CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    oom_killed: bool = False
    # A run's exit code, kept from the exit event until the exit is applied (restore's
    # fallback if the daemon dies in between, after containerd forgot the task).
    recorded_exit: int | None = None
    # Docker's State.Health, for a container with a healthcheck (kept by the state machine).
    health: Health | None = None

    @property
    def running(self) -> bool:
        return self.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING)

    @property
    def paused(self) -> bool:
        return self.status is Status.PAUSED

    def as_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _STATE_FIELDS}
        data["status"] = str(self.status)
        if self.health is not None:  # a copy, as asdict made: the caller may keep it
            data["health"] = copy.deepcopy(self.health)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        state = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        state.status = Status(state.status)
        return state


@dataclass
class Container:
    id: str
    name: str  # with Docker's leading slash
    created: str
    path: str
    args: list[str]
    config: dict[str, Any]  # the effective Config, as inspect shows it
    host_config: dict[str, Any]
    image_id: str
    runtime: str
    state: State = field(default_factory=State)
    restart_count: int = 0
    has_been_started: bool = False
    manually_stopped: bool = False
    directory: str = ""
    exec_ids: list[str] = field(default_factory=list)
    # VolumesFrom, resolved at create (as dockerd does): copies of the named
    # containers' mounts, in oci.mounts.UserMount's JSON form.
    inherited_mounts: list[dict[str, Any]] = field(default_factory=list)
    # Its volumes, resolved at create (daemon/volumes/mounts.py VolumeMount's JSON form).
    volume_mounts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def dir(self) -> Path:
        return Path(self.directory)

    # The files' paths are str (os.path.join, not pathlib): the log's is made at every
    # start, the others at every inspect (issue 13).
    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, f"{self.id}-json.log")

    @property
    def hostname_path(self) -> str:
        return os.path.join(self.directory, "hostname")

    @property
    def hosts_path(self) -> str:
        return os.path.join(self.directory, "hosts")

    @property
    def resolv_conf_path(self) -> str:
        return os.path.join(self.directory, "resolv.conf")

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def image_name(self) -> str:
        return str(self.config.get("Image", ""))

    @property
    def labels(self) -> dict[str, str]:
        labels = self.config.get("Labels") or {}
        return dict(labels)

    def as_json(self) -> dict[str, Any]:
        """The record for the state file, to be encoded at once. Shallow: the nested dicts
        and lists are the container's own, not copies (asdict's deep copy of Config and
        HostConfig cost more than the rest of a save: issue 13's profile)."""
        data = {name: getattr(self, name) for name in _CONTAINER_FIELDS}
        data["state"] = self.state.as_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Container:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["state"] = State.from_json(data.get("state", {}))
        return cls(**fields)


_STATE_FIELDS = tuple(f.name for f in fields(State))
_CONTAINER_FIELDS = tuple(f.name for f in fields(Container))
