"""``GET /events``: one message per line, built by ``daemon/events.py``."""

from typing import NotRequired, TypedDict


class EventActor(TypedDict):
    ID: str
    Attributes: dict[str, str]


# ``status``, ``id`` and ``from`` repeat Action, Actor.ID and the image for clients older
# than API 1.22; dockerd still sends them for containers and images. (``from`` is a
# keyword, hence the functional form.)
EventMessage = TypedDict(
    "EventMessage",
    {
        "status": NotRequired[str],
        "id": NotRequired[str],
        "from": NotRequired[str],
        "Type": str,  # container, image, volume, network, daemon, plugin...
        "Action": str,
        "Actor": EventActor,
        "scope": NotRequired[str],  # "local" or "swarm"
        "time": int,  # unix seconds
        "timeNano": int,  # unix nanoseconds
    },
)
