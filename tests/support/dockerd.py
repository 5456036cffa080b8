"""What dockerd 20.10 sends, for tests that compare moorage's replies with it."""

from __future__ import annotations

# The top-level keys of a stats sample (GET /containers/{id}/stats), in dockerd's order.
STATS_KEYS = (
    "read",
    "preread",
    "pids_stats",
    "blkio_stats",
    "num_procs",
    "storage_stats",
    "cpu_stats",
    "precpu_stats",
    "memory_stats",
    "name",
    "id",
)
