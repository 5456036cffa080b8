"""A container's state in words, as dockerd's State.String() writes it: `docker ps`'s
Status column, and the state an exec start names when its container is not running."""

from __future__ import annotations

import functools
import time

from daemon.timefmt import parse_rfc3339

from .health import status_suffix
from .model import State, Status


# Remembered as the parse is (daemon.timefmt): a list asks it of every running container.
@functools.lru_cache(maxsize=1024)
def _unix_seconds(text: str) -> float | None:
    stamp = parse_rfc3339(text)
    return stamp.seconds if stamp is not None else None


def ago(text: str) -> str:
    """How long ago the RFC 3339 time `text` was, in Docker's human words."""
    then = _unix_seconds(text)
    if then is None:
        return ""
    seconds = max(0.0, time.time() - then)
    if seconds < 1:
        return "Less than a second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    if seconds < 3600:
        minutes = int(seconds / 60)
        return "About a minute" if minutes == 1 else f"{minutes} minutes"
    hours = int(seconds / 3600)
    if hours < 48:
        return "About an hour" if hours == 1 else f"{hours} hours"
    return f"{int(hours / 24)} days"


def status_text(state: State) -> str:
    if state.status is Status.RUNNING:
        return f"Up {ago(state.started_at)}{status_suffix(state.health)}"
    if state.status is Status.PAUSED:
        return f"Up {ago(state.started_at)} (Paused)"
    if state.status is Status.RESTARTING:
        return f"Restarting ({state.exit_code}) {ago(state.finished_at)} ago"
    if state.status is Status.EXITED:
        return f"Exited ({state.exit_code}) {ago(state.finished_at)} ago"
    if state.status is Status.REMOVING:
        return "Removal In Progress"
    if state.status is Status.DEAD:
        return "Dead"
    return "Created"
