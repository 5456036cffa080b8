"""containerd task events (topic + Any payload) into libcontainerd's event types."""

from __future__ import annotations

from collections.abc import Collection

from ..types import INIT_PROCESS_ID, EventInfo, EventType
from . import anycodec
from .gen.containerd.events import (
    TaskCreate,
    TaskExecAdded,
    TaskExecStarted,
    TaskExit,
    TaskOom,
    TaskPaused,
    TaskResumed,
    TaskStart,
)
from .gen.google.protobuf import Any

_TOPICS = {
    "/tasks/create": EventType.CREATE,
    "/tasks/start": EventType.START,
    "/tasks/exit": EventType.EXIT,
    "/tasks/oom": EventType.OOM,
    "/tasks/exec-added": EventType.EXEC_ADDED,
    "/tasks/exec-started": EventType.EXEC_STARTED,
    "/tasks/paused": EventType.PAUSED,
    "/tasks/resumed": EventType.RESUMED,
}
# What the client subscribes to by default: containerd drops the rest of the namespace's
# events (containers, snapshots, images, content, /tasks/delete) before they are sent.
TOPICS = tuple(_TOPICS)


def topics_of(events: Collection[EventType] | None) -> tuple[str, ...]:
    """The topics that carry `events` (None: every task event the Backend can be given).
    Each topic left out is an HTTP/2 frame, a read on the stream, a decode and a dispatch
    less per event containerd publishes: a client whose Backend does nothing with an
    event type names the ones it handles."""
    if events is None:
        return TOPICS
    return tuple(topic for topic, kind in _TOPICS.items() if kind in events)


def decode(topic: str, payload: Any | None) -> tuple[EventType, EventInfo] | None:
    """Decode one envelope; None for topics the Backend does not take."""
    kind = _TOPICS.get(topic)
    if kind is None:
        return None
    event = anycodec.unpack(payload)
    match event:
        case TaskExit():
            # The init process's exit carries the container id as its process id.
            process = INIT_PROCESS_ID if event.id in ("", event.container_id) else event.id
            info = EventInfo(
                event.container_id, process, event.pid, event.exit_status, event.exited_at
            )
        case TaskCreate() | TaskStart():
            info = EventInfo(event.container_id, pid=event.pid)
        case TaskExecAdded():
            info = EventInfo(event.container_id, event.exec_id)
        case TaskExecStarted():
            info = EventInfo(event.container_id, event.exec_id, event.pid)
        case TaskOom() | TaskPaused() | TaskResumed():
            info = EventInfo(event.container_id)
        case _:
            return None
    return kind, info
