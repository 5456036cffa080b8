"""Which libcontainerd backend the daemon runs on: `remote` (containerd) or `local` (runc
driven directly, for hosts without containerd); chosen at run time, here only."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from daemon.config import ConfigError, DaemonConfig
from libcontainerd.errors import UnavailableError
from libcontainerd.types import Backend

if TYPE_CHECKING:
    from libcontainerd.local import LocalClient


def backend_name(config: DaemonConfig) -> str:
    """`auto`: remote when a containerd socket is given or containerd can be started."""
    if config.containerd_backend != "auto":
        return config.containerd_backend
    return "remote" if config.containerd or shutil.which("containerd") else "local"


async def start_local(config: DaemonConfig, backend: Backend) -> LocalClient:
    """Its records, images and snapshots under `<data-root>/local`, bundles and FIFOs
    under `<exec-root>/local`. ConfigError when there is no runtime to run."""
    # Imported here: a daemon on containerd (the usual case) never loads this backend.
    from libcontainerd.local import LocalClient

    try:
        return await LocalClient.start(
            config.data_root / "local",
            config.exec_root / "local",
            backend,
            config.containerd_namespace,
        )
    except UnavailableError as exc:
        raise ConfigError(f"the local backend cannot start: {exc}") from exc
