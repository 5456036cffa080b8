"""Networks on disk: one JSON file per network under <data-root>/network/, written
atomically (temp file, fsync, rename), so that a crash leaves the old or the new
network, never half of one. Endpoints (and so IP allocations) are saved with their
network."""

from __future__ import annotations

import contextlib
import json
import logging
import os
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

    def save(self, network: Network, *, durable: bool = True) -> None:
        """`durable=False` for endpoint changes: renamed into place but not fsynced, since
        endpoints matter only while their containers run, and a machine crash that could
        lose the write also ends every container (a daemon crash loses nothing)."""
        self.root.mkdir(parents=True, exist_ok=True)
        data = json.dumps(network.to_json()).encode()
        if durable:
            write_atomic(self._path(network.id), data)
            return
        path = self._path(network.id)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def delete(self, network: Network) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(network.id).unlink()
