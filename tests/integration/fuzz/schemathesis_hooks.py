"""Schemathesis hooks for the API fuzz run (loaded through SCHEMATHESIS_HOOKS).

* Creates name the one image the daemon has, so that a fuzzed create gets past the
  image lookup to where its Config and HostConfig are checked, which is where most
  of its input is read.
* ``GET /events`` gets an ``until`` in the past instead of none or a timestamp:
  it would stream until then (forever without one).
* Tar bodies (image load, plugin create, archive upload) go out as the raw bytes
  generated for them.
* A 503 from an operation that talks to a registry is the daemon's answer (see
  daemon/images/DECISIONS.md) to a registry it cannot reach, and the namespace it
  runs in here has no network: the environment's doing, not the input's.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis

FUZZ_IMAGE = "busybox"
# Operations that reach out to a registry: in the fuzz namespace there is none to reach.
REGISTRY_OPERATIONS = (
    r"/auth",
    r"/images/create",
    r"/images/\{name\}/push",
    r"/images/search",
    r"/distribution/\{name\}/json",
)

schemathesis.serializer.alias("application/x-tar", "application/octet-stream")


def _is(context: Any, method: str, path: str) -> bool:
    operation = context.operation
    return operation is not None and operation.method.upper() == method and operation.path == path


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    # At call time, so that every phase's cases pass through (coverage's too).
    if _is(context, "POST", "/containers/create") and isinstance(case.body, dict):
        case.body = {**case.body, "Image": FUZZ_IMAGE}
    if _is(context, "GET", "/events"):
        query = dict(case.query or {})
        until = str(query.get("until", ""))
        if not until or re.fullmatch(r"[0-9.+-]+", until):
            query["until"] = "1"  # a time, or none: the stream would go on until then
        case.query = query


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    operation = context.operation
    touches_registry = operation is not None and any(
        re.fullmatch(pattern, operation.path) for pattern in REGISTRY_OPERATIONS
    )
    return not (touches_registry and response.status_code == 503)
