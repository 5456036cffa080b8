"""``GET /events``: one message per line."""

from typing import Annotated

from pydantic import Field

from api.models.base import ApiModel, OmitEmpty


class EventActor(ApiModel):
    ID: str = ""
    Attributes: dict[str, str] | None = None


class EventMessage(ApiModel):
    """An event. ``status``, ``id`` and ``from`` repeat Action, Actor.ID and the
    image for clients older than API 1.22; dockerd still sends them for containers.
    """

    status: Annotated[str, OmitEmpty] = ""
    id: Annotated[str, OmitEmpty] = ""
    from_: Annotated[str, OmitEmpty] = Field(default="", serialization_alias="from")
    Type: str = ""  # container, image, volume, network, daemon, plugin...
    Action: str = ""
    Actor: EventActor = Field(default_factory=EventActor)
    scope: str = ""  # "local" or "swarm"
    time: Annotated[int, OmitEmpty] = 0  # unix seconds
    timeNano: Annotated[int, OmitEmpty] = 0  # unix nanoseconds
