"""Networks on disk: one JSON file per network under <data-root>/network/, written
atomically (temp file, fsync, rename), so that a crash leaves the old or the new
network, never half of one. Endpoints (and so IP allocations) are saved with their
network."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

from ..container.store import write_atomic
from .model import Network

log = logging.getLogger(__name__)


class NetworkStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, network_id: str) -> Path:
        return self.root / f"{network_id}.json"

    def load(self) -> list[Network]:
        self.root.mkdir(parents=True, exist_ok=True)
        networks: list[Network] = []
        for path in sorted(self.root.glob("*.json")):
            try:
                networks.append(Network.from_json(json.loads(path.read_bytes())))
            except (ValueError, TypeError, KeyError) as exc:
                log.error("skipping unreadable network state %s: %s", path, exc)
        return networks

    def save(self, network: Network) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self._path(network.id), json.dumps(network.to_json()).encode())

    def delete(self, network: Network) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(network.id).unlink()
