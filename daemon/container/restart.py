"""Restart policies: whether an exited container goes again, and after how long.

As in dockerd, the delay starts at 100 ms and doubles with each restart up to a
minute, and starts over once a run lasted at least ten seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
STABLE_RUN = 10.0


@dataclass
class RestartPolicy:
    name: str = "no"
    max_retries: int = 0

    @classmethod
    def of(cls, host_config: dict[str, Any]) -> RestartPolicy:
        policy = host_config.get("RestartPolicy") or {}
        return cls(policy.get("Name") or "no", int(policy.get("MaximumRetryCount") or 0))

    def after_exit(self, exit_code: int, manually_stopped: bool, restart_count: int) -> bool:
        if manually_stopped:
            return False
        if self.name in ("always", "unless-stopped"):
            return True
        if self.name == "on-failure":
            return exit_code != 0 and (self.max_retries == 0 or restart_count < self.max_retries)
        return False

    def at_daemon_start(self, exit_code: int, manually_stopped: bool, restart_count: int) -> bool:
        # `docker stop` holds an `always` container only until the daemon starts again.
        if self.name == "always":
            return True
        return self.after_exit(exit_code, manually_stopped, restart_count)


@dataclass
class Backoff:
    delay: float = 0.0

    def next(self, ran_for: float) -> float:
        if ran_for >= STABLE_RUN or self.delay == 0.0:
            self.delay = INITIAL_DELAY
        else:
            self.delay = min(self.delay * 2, MAX_DELAY)
        return self.delay

    def reset(self) -> None:
        self.delay = 0.0
