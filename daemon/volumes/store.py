"""Volume records on disk: <data-root>/volumes/<name>/volume.json beside the volume's
`_data` directory, written atomically (temp file, fsync, rename).

A volume exists exactly when its record does: create writes the record after making
`_data`, remove unlinks the record first, so a crash in between leaves at most a
directory without a record, which load sweeps away.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..container.store import fsync_dir, write_atomic

log = logging.getLogger(__name__)
RECORD_FILE = "volume.json"
DATA_DIR = "_data"


@dataclass
class VolumeRecord:
    name: str
    driver: str = "local"
    labels: dict[str, str] | None = None
    options: dict[str, str] | None = None  # DriverOpts as given at create
    # Made for a container (`-v /path`, an image's VOLUME), not named by a user: what
    # `docker rm -v` and an API >= 1.42 prune remove. dockerd 20.10 shows no sign of it.
    anonymous: bool = False

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VolumeRecord:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class VolumeStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, name: str) -> Path:
        return self.root / name

    def data_path(self, name: str) -> Path:
        return self.root / name / DATA_DIR

    def load(self) -> list[VolumeRecord]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o701)
        found: list[VolumeRecord] = []
        for entry in sorted(self.root.iterdir()):
            if not entry.is_dir():
                continue
            try:
                found.append(VolumeRecord.from_json(json.loads((entry / RECORD_FILE).read_bytes())))
            except FileNotFoundError:
                log.warning("removing %s: a volume directory without its record", entry)
                shutil.rmtree(entry, ignore_errors=True)
            except (ValueError, TypeError) as exc:
                log.error("skipping unreadable volume record in %s: %s", entry, exc)
        return found

    def add(self, record: VolumeRecord) -> None:
        directory = self.directory(record.name)
        self.data_path(record.name).mkdir(parents=True, exist_ok=True, mode=0o755)
        write_atomic(directory / RECORD_FILE, json.dumps(record.as_json()).encode())
        fsync_dir(directory)
        fsync_dir(self.root)

    def remove(self, name: str) -> None:
        """The record first (the commit of the removal), then the data."""
        directory = self.directory(name)
        with contextlib.suppress(FileNotFoundError):
            (directory / RECORD_FILE).unlink()
        shutil.rmtree(directory, ignore_errors=True)
