"""``GET /events``: one message per line, built by ``daemon/events.py``."""

from typing import NotRequired, TypedDict

from wire.api_versions import EVENTS_CONTENT_NEGOTIATION, ApiVersion


class EventActor(TypedDict):
    ID: str
    Attributes: dict[str, str]


# ``status``, ``id`` and ``from`` repeat Action, Actor.ID and the image for clients older
# than API 1.22; dockerd 20.10 sends them for containers and images, and so does moorage
# at every version (wire/api_versions.py, "events-legacy"). (``from`` is a keyword, hence
# the functional form.)
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


# Stream types a client may ask for with Accept (API 1.52; jsonl from 1.53).
JSON_SEQ = "application/json-seq"  # RFC 7464: each record after an RS byte
NDJSON = "application/x-ndjson"
JSONL = "application/jsonl"
_NEGOTIABLE = (JSON_SEQ, JSONL, NDJSON)


def events_content_type(version: ApiVersion, accept: str) -> str:
    """The stream's Content-Type: a type named in Accept (no wildcards) from API 1.52."""
    if not EVENTS_CONTENT_NEGOTIATION.applies(version):
        return "application/json"
    named = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    for media_type in _NEGOTIABLE:
        if media_type in named:
            return media_type
    return JSONL
