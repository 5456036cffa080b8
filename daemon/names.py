"""Container names: Docker's validation rule and generated names for unnamed containers."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from .errors import InvalidParameter

_VALID = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_ADJECTIVES = [
    "brave",
    "calm",
    "eager",
    "fancy",
    "gentle",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "merry",
    "nifty",
    "proud",
    "quirky",
    "serene",
    "sharp",
    "sleepy",
    "sunny",
    "tender",
    "upbeat",
    "vivid",
    "witty",
    "zealous",
]
_NOUNS = [
    "anchor",
    "barge",
    "buoy",
    "canal",
    "delta",
    "ferry",
    "harbor",
    "jetty",
    "keel",
    "lagoon",
    "marina",
    "mooring",
    "pier",
    "quay",
    "raft",
    "schooner",
    "sloop",
    "tide",
    "wharf",
    "yacht",
]


def validate_name(name: str) -> str:
    """The canonical form (with its slash) of a user-given name, or InvalidParameter."""
    if not _VALID.match(name):
        raise InvalidParameter(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name if name.startswith("/") else "/" + name


def generate_name(taken: Callable[[str], bool] = lambda _: False) -> str:
    """A free random name; `taken` tells a name in use (asked, not listed: a create
    with hundreds of containers made a set of all their names)."""
    rng = random.SystemRandom()
    while True:
        name = f"/{rng.choice(_ADJECTIVES)}_{rng.choice(_NOUNS)}"
        if not taken(name):
            return name
        name = f"{name}{rng.randint(0, 99)}"
        if not taken(name):
            return name
