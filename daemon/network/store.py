"""Networks on disk: one JSON file per network under <data-root>/network/, written
atomically (temp file, fsync, rename), so that a crash leaves the old or the new
network, never half of one. Endpoints (and so IP allocations) are saved with their
network. A container's memberships of networks removed while it was stopped are kept
under removed/, one file per container (daemon/network/manager.py says why)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from ..container.store import write_atomic
from .model import Member, Network

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

    # -- memberships of removed networks, per container: {"Networks": {name: member}} --

    def _removed_path(self, container_id: str) -> Path:
        return self.root / "removed" / f"{container_id}.json"

    def load_removed(self) -> dict[str, dict[str, Member]]:
        found: dict[str, dict[str, Member]] = {}
        for path in sorted((self.root / "removed").glob("*.json")):
            try:
                doc = json.loads(path.read_bytes())
                found[path.stem] = {
                    str(name): Member.from_json(member) for name, member in doc["Networks"].items()
                }
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                log.error("skipping unreadable network state %s: %s", path, exc)
        return found

    def save_removed(self, container_id: str, members: Mapping[str, Member]) -> None:
        """Its memberships of removed networks, by network name; none: the file goes."""
        path = self._removed_path(container_id)
        if not members:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"Networks": {name: member.to_json() for name, member in members.items()}}
        write_atomic(path, json.dumps(doc).encode())
