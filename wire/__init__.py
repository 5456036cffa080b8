"""The Engine API's JSON shapes, one definition each, for ``api`` and ``daemon`` alike.

Requests are pydantic models with Go's decoding rules (``base``); the daemon gets
them as JSON dicts (``ContainerCreateRequest.parts``). Replies are TypedDicts:
free at run time on the hot paths (list, inspect, events, stats), checked by mypy
where the routes and the daemon's views build them in dockerd's key order. A
stored or foreign document of a request shape (a container's Config and
HostConfig, an image's config) is written with ``ApiModel.encode``.

Modules by subject: ``host_config`` and ``container_config`` (the parts of a
container definition), ``network``, ``container``, ``exec``, ``image``,
``events``, ``stats``, ``system``, ``volume``. ``wire`` imports neither ``api``
nor ``daemon``.
"""
