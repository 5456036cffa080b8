"""`mooraged`: parse flags, start (or reach) containerd, restore, serve the Engine API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

import uvloop

from api.routes import containers as container_routes
from api.routes import exec as exec_routes
from api.routes import info as info_routes
from api.routes.common import DAEMON
from api.server import make_app, serve
from libcontainerd.remote import RemoteClient
from libcontainerd.supervisor import ManagedContainerd

from .config import ConfigError, DaemonConfig, load_config
from .container import spec as container_spec
from .container.model import Container
from .daemon import Daemon, Image, ImageResolver
from .logs.jsonfile import JsonFileWriter

log = logging.getLogger("mooraged")


def _build_spec(container: Container, image: Image | None) -> dict[str, Any]:
    document = image.config if image is not None else {}
    # The image's runtime settings sit under "config" in an image config document.
    image_config = document.get("config", document) or {}
    return container_spec.prepare(container, image_config)


def _open_log(container: Container) -> JsonFileWriter | None:
    log_config = container.host_config.get("LogConfig") or {}
    if (log_config.get("Type") or "json-file") != "json-file":
        return None
    return JsonFileWriter.from_options(str(container.log_path), log_config.get("Config") or {})


def _managed_containerd(config: DaemonConfig) -> ManagedContainerd:
    base = config.managed_containerd_dir
    state = config.exec_root / "containerd"
    return ManagedContainerd(
        root=base / "root",
        state=state / "state",
        address=state / "containerd.sock",
        log_path=base / "containerd.log",
        debug=config.debug,
    )


class Services:
    """Everything `mooraged` runs, started and stopped in order."""

    def __init__(self, config: DaemonConfig, images: ImageResolver) -> None:
        self.config = config
        self.managed: ManagedContainerd | None = None
        self.client: RemoteClient | None = None
        self.daemon = Daemon(config, images, _build_spec, _open_log, self._emit)
        self.server: Any = None

    def _emit(self, kind: str, action: str, actor: str, attributes: dict[str, str]) -> None:
        log.debug("event %s %s %s", kind, action, actor[:12])

    async def start(self) -> None:
        config = self.config
        address = config.containerd
        if not address:
            self.managed = _managed_containerd(config)
            await self.managed.start()
            address = str(self.managed.address)
        self.daemon.load()
        self.client = await RemoteClient.connect(
            address, config.containerd_namespace, self.daemon, config.exec_root / "fifo"
        )
        self.daemon.attach_client(self.client)
        self.daemon.containerd_version = await self.client.version()
        await self.daemon.restore()
        app = make_app()
        app[DAEMON] = self.daemon
        for routes in (container_routes, exec_routes, info_routes):
            routes.add_routes(app.router)
        self.server = await serve(app, config.hosts)
        log.info("mooraged listening on %s", ", ".join(config.hosts))

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
        await self.daemon.shutdown()
        if self.client is not None:
            await self.client.close()
        if self.managed is not None:
            await self.managed.stop()


async def run(config: DaemonConfig, images: ImageResolver) -> None:
    services = Services(config, images)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await services.start()
        await stop.wait()
        log.info("shutting down")
    finally:
        with contextlib.suppress(Exception):
            await services.stop()


def main(argv: list[str] | None = None) -> int:
    try:
        config = load_config(argv)
    except ConfigError as exc:
        print(f"mooraged: {exc}", file=sys.stderr)
        return 1
    logging.basicConfig(
        level=getattr(logging, config.log_level.upper().replace("WARN", "WARNING"), logging.INFO),
        format='time="%(asctime)s" level=%(levelname)s msg="%(message)s" logger=%(name)s',
    )
    # The image service (issue 4) resolves images for real; until it lands, mooraged
    # cannot create containers outside the tests' fixture resolver.
    from .images.service import ImageService  # type: ignore[import-not-found]

    images = ImageService.for_config(config)
    uvloop.run(run(config, images))
    return 0
