"""Engine API request and response bodies (pydantic), with dockerd's JSON shapes.

Modules by subject: ``host_config`` and ``container_config`` (the parts of a
container definition), ``network``, ``container``, ``exec``, ``events``,
``stats``, ``system``; ``base`` holds the Go JSON rules they share.
"""
