"""`mooraged`: parse flags, start (or reach) containerd, restore, serve the Engine API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import sys
from collections.abc import Mapping
from typing import Any

import uvloop
from aiohttp import web

from api.metrics import Metrics
from api.routes import archive as archive_routes
from api.routes import container_fs as container_fs_routes
from api.routes import container_ops as container_ops_routes
from api.routes import containers as container_routes
from api.routes import events as events_routes
from api.routes import exec as exec_routes
from api.routes import images as image_routes
from api.routes import info as info_routes
from api.routes import networks as network_routes
from api.routes import stats as stats_routes
from api.routes import swarm as swarm_routes
from api.routes import system_df as system_df_routes
from api.routes import volumes as volume_routes
from api.routes.common import DAEMON
from api.server import (
    UnixSocketOwner,
    insecure_tcp_hosts,
    make_app,
    serve,
    server_tls_context,
)
from daemon import logsetup
from daemon.config import ConfigError, DaemonConfig, load_config
from daemon.container.model import Container
from daemon.container.spec import ContainerSpecs
from daemon.daemon import Daemon
from daemon.events import EventsBus
from daemon.images.image import ImageUse
from daemon.images.service import ImageService
from daemon.logs.jsonfile import JsonFileWriter
from libcontainerd.local import LocalClient
from libcontainerd.remote import RemoteClient
from libcontainerd.supervisor import ManagedContainerd
from mooraged.backend import backend_name, start_local

log = logging.getLogger("mooraged")


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

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.managed: ManagedContainerd | None = None
        self._supervision: asyncio.Task[None] | None = None
        self.client: RemoteClient | LocalClient | None = None
        self.images = ImageService.for_config(config)
        self.images.set_event_sink(self._image_event)
        # Public: whatever else produces events (images) publishes here too.
        self.events = EventsBus()
        self.daemon = Daemon(
            config,
            self.images,
            ContainerSpecs(no_new_privileges=config.no_new_privileges),
            _open_log,
            self._emit,
        )
        self.images.set_usage_checker(self._image_users)
        self.server: Any = None
        self.metrics = Metrics()
        self._metrics_runner: web.AppRunner | None = None

    def _emit(self, kind: str, action: str, actor: str, attributes: dict[str, str]) -> None:
        log.debug("event %s %s %s", kind, action, actor[:12])
        self.events.publish(kind, action, actor, attributes)

    def _image_event(self, action: str, ref: str, attributes: Mapping[str, str]) -> None:
        self.events.publish("image", action, ref, dict(attributes))

    def _image_users(self, image_id: str) -> list[ImageUse]:
        return [
            ImageUse(live.id, live.model.state.running)
            for live in self.daemon.containers()
            if live.model.image_id == image_id
        ]

    async def start(self) -> None:
        config = self.config
        config.containerd_backend = backend_name(config)  # "auto" decided, for /info
        if config.containerd_backend == "local":
            self.daemon.load()
            self.client = await start_local(config, self.daemon)
            self.daemon.attach_client(self.client)
            await self._serve_started()
            return
        address = config.containerd
        if not address:
            self.managed = _managed_containerd(config)
            await self.managed.start()
            self._supervision = asyncio.get_running_loop().create_task(
                self.managed.supervise(), name="containerd-supervisor"
            )
            address = str(self.managed.address)
        self.daemon.load()
        self.client = client = await RemoteClient.connect(
            address, config.containerd_namespace, self.daemon, config.exec_root / "fifo"
        )
        self.daemon.attach_client(client)
        for method, count in client.rpc_counts().items():
            self.metrics.containerd_rpcs.labels(method).inc(count)
        client.conn.counter.observe(self.metrics.count_rpc)
        await self._serve_started()

    async def _serve_started(self) -> None:
        """The rest of the start, once the daemon has its libcontainerd client."""
        config = self.config
        assert self.client is not None
        self.daemon.containerd_version = await self.client.version()
        await self.images.start(self.client)
        await self.daemon.restore()
        app = make_app(outer_middlewares=[self.metrics.middleware])
        app[DAEMON] = self.daemon
        app[events_routes.EVENTS] = self.events
        for routes in (
            container_routes,
            exec_routes,
            info_routes,
            events_routes,
            stats_routes,
            container_ops_routes,
            archive_routes,
            container_fs_routes,
            system_df_routes,
            volume_routes,
            swarm_routes,
            network_routes,
        ):
            routes.add_routes(app.router)
        image_routes.add_routes(app, self.images)
        self.server = await serve(
            app,
            config.hosts,
            socket_owner=UnixSocketOwner(config.group, required=config.group_given),
            tls=tls_context(config),
        )
        if config.metrics_addr:
            await self._serve_metrics(config.metrics_addr)
        log.info("mooraged listening on %s", ", ".join(config.hosts))

    async def _serve_metrics(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._metrics_runner = web.AppRunner(self.metrics.app(), handle_signals=False)
        await self._metrics_runner.setup()
        await web.TCPSite(self._metrics_runner, host.strip("[]") or "127.0.0.1", int(port)).start()

    async def stop(self) -> None:
        # Event streams end cleanly rather than being cut by the server's close.
        self.events.close()
        if self.server is not None:
            await self.server.close()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        await self.daemon.shutdown()
        if self.client is not None:
            await self.client.close()
        if self.managed is not None:
            await self.managed.stop()
        if self._supervision is not None:
            self._supervision.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervision


INSECURE_TCP_MESSAGE = (
    "refusing to listen on {hosts} without TLS: anyone who can reach it controls this "
    "machine as root. Use --tlsverify with --tlscacert, --tlscert and --tlskey, listen on "
    "a loopback address, or pass --allow-insecure-tcp to accept the risk"
)


def tls_context(config: DaemonConfig) -> ssl.SSLContext | None:
    """The TCP listeners' TLS (None without --tls/--tlsverify); ConfigError on bad files."""
    if not config.tls:
        return None
    try:
        return server_tls_context(
            config.tlscert, config.tlskey, config.tlscacert, verify=config.tlsverify
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"could not load the TLS certificates: {exc}") from exc


def check_listeners(config: DaemonConfig) -> None:
    """Refuse, before anything starts, listeners that would expose the API: plain TCP on
    an address other machines reach, or TLS whose certificates do not load."""
    try:
        exposed = insecure_tcp_hosts(config.hosts)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if config.tls:
        tls_context(config)
    elif exposed and not config.allow_insecure_tcp:
        raise ConfigError(INSECURE_TCP_MESSAGE.format(hosts=", ".join(exposed)))


async def run(config: DaemonConfig) -> None:
    services = Services(config)
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
        check_listeners(config)
    except ConfigError as exc:
        print(f"mooraged: {exc}", file=sys.stderr)
        return 1
    logsetup.configure(config.log_level)
    try:
        uvloop.run(run(config))
    except (ConfigError, FileExistsError, ValueError) as exc:
        # Listeners that cannot be set up (certificates, a socket in use, a missing -G group).
        print(f"mooraged: {exc}", file=sys.stderr)
        return 1
    return 0
