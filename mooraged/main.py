"""`mooraged`: parse flags, start (or reach) containerd, restore, serve the Engine API."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

import uvloop
from aiohttp import web

from api.limits import ServerLimits
from api.routes.common import DAEMON
from api.server import (
    NO_ACTIVATED_SOCKETS,
    UnixSocketOwner,
    insecure_tcp_hosts,
    make_app,
    serve,
    server_tls_context,
)
from daemon import logsetup
from daemon import shutdown as graceful
from daemon.config import ConfigError, DaemonConfig, LoadedConfig, load, reload
from daemon.container.model import Container
from daemon.container.monitor import HANDLED_EVENTS
from daemon.container.spec import CGROUP_PARENT, ContainerDefaults, ContainerSpecs
from daemon.daemon import Daemon
from daemon.events import EventsBus
from daemon.images.image import ImageUse
from daemon.images.service import ImageService, registry_settings
from daemon.logs.jsonfile import JsonFileWriter
from daemon.network.ipam import DEFAULT_POOLS
from daemon.network.manager import AddressDefaults
from daemon.oci.apparmor import load_default_profile
from libcontainerd.remote import RemoteClient
from libcontainerd.supervisor import ManagedContainerd
from mooraged.backend import backend_name, start_local
from wire.base import build_deferred, deferred_models

from . import compile_cache, systemd
from .heap import settle_after_startup
from .pidfile import PidFile

if TYPE_CHECKING:
    from api.metrics import Metrics  # imported when --metrics-addr serves them
    from libcontainerd.local import LocalClient  # imported when that backend starts

log = logging.getLogger("mooraged")

# The Engine API's route modules (api.routes.<name>, each with its add_routes; the ping's
# is the server's own). Imported in a thread while the start waits on containerd (the
# connection, restore's listing: containerd asks every shim): ~20 ms of imports no
# restore needs, off the way to the first answer; all are in the table before it.
ROUTE_MODULES = (
    "containers",
    "exec",
    "info",
    "events",
    "stats",
    "container_ops",
    "archive",
    "container_fs",
    "system_df",
    "volumes",
    "swarm",
    "networks",
    "build",
    "images",
)


def import_route_modules() -> dict[str, ModuleType]:
    return {name: importlib.import_module(f"api.routes.{name}") for name in ROUTE_MODULES}


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

    def __init__(self, config: DaemonConfig, limits: ServerLimits | None = None) -> None:
        self.config = config
        self.limits = limits  # api.limits' defaults unless given (tests shorten the timeouts)
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
            ContainerSpecs(
                config.cgroup_parent or CGROUP_PARENT,
                no_new_privileges=config.no_new_privileges,
                defaults=container_defaults(config),
            ),
            _open_log,
            self._emit,
        )
        self.daemon.networks.address_defaults = AddressDefaults(
            config.bip, config.fixed_cidr, config.address_pools() or DEFAULT_POOLS
        )
        self.images.set_usage_checker(self._image_users)
        self.server: Any = None
        # Counted only when something can read them (--metrics-addr): without it neither
        # prometheus_client is imported (start-up) nor requests and RPCs counted.
        self.metrics: Metrics | None = None
        if config.metrics_addr:
            from api.metrics import Metrics

            self.metrics = Metrics()
        self._metrics_runner: web.AppRunner | None = None
        self._warm_up: asyncio.Task[None] | None = None
        self._route_modules: asyncio.Future[dict[str, ModuleType]] | None = None

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

    async def start(self, activated: list[socket.socket] | None = None) -> None:
        """Start everything; `activated`: listening sockets systemd handed over (fd://)."""
        config = self.config
        self._route_modules = asyncio.ensure_future(asyncio.to_thread(import_route_modules))
        config.containerd_backend = backend_name(config)  # "auto" decided, for /info
        if config.containerd_backend == "local":
            self.daemon.load(await self.daemon.netrt.host_routes())
            self.client = await start_local(config, self.daemon)
            self.daemon.attach_client(self.client)
            await self._serve_started(activated)
            return
        address = config.containerd
        if not address:
            self.managed = _managed_containerd(config)
            await self.managed.start()
            self._supervision = asyncio.get_running_loop().create_task(
                self.managed.supervise(), name="containerd-supervisor"
            )
            address = str(self.managed.address)
        self.daemon.load(await self.daemon.netrt.host_routes())
        self.client = client = await RemoteClient.connect(
            address,
            config.containerd_namespace,
            self.daemon,
            config.exec_root / "fifo",
            events=HANDLED_EVENTS,
        )
        self.daemon.attach_client(client)
        if self.metrics is not None:
            for method, count in client.rpc_counts().items():
                self.metrics.containerd_rpcs.labels(method).inc(count)
            client.conn.counter.observe(self.metrics.count_rpc)
        await self._serve_started(activated)

    async def _serve_started(self, activated: list[socket.socket] | None) -> None:
        """The rest of the start, once the daemon has its libcontainerd client."""
        config = self.config
        assert self.client is not None
        # Independent of each other, and mostly waiting on containerd or the kernel; the
        # restore's listing of containerd's side (~0.2 s with 200 tasks: containerd asks
        # each shim) runs meanwhile, and its steps wait for them (the image store).
        prepared = asyncio.gather(
            self.client.version(),
            self.images.start(self.client),
            asyncio.to_thread(load_default_profile),  # AppArmor's, when the host has it
        )
        try:
            await self.daemon.restore(before_steps=prepared)
        except BaseException:
            prepared.cancel()  # when the restore failed first
            with contextlib.suppress(BaseException):
                await prepared
            raise
        self.daemon.containerd_version = prepared.result()[0]
        assert self._route_modules is not None  # start() began their import
        routes = await self._route_modules
        observe = self.metrics.observe_request if self.metrics is not None else None
        app = make_app(observe=observe, limits=self.limits)
        app[DAEMON] = self.daemon
        app[routes["events"].EVENTS] = self.events
        for name, module in routes.items():
            if name == "images":
                module.add_routes(app, self.images)
            else:
                module.add_routes(app.router)
        self.server = await serve(
            app,
            config.hosts,
            socket_owner=UnixSocketOwner(config.group, required=config.group_given),
            tls=tls_context(config),
            activated=activated or [],
        )
        if config.metrics_addr:
            await self._serve_metrics(config.metrics_addr)
        log.info("mooraged listening on %s", ", ".join(config.hosts))
        self._warm_up = asyncio.get_running_loop().create_task(
            _build_api_models(), name="api-models"
        )

    async def _serve_metrics(self, address: str) -> None:
        assert self.metrics is not None  # made for a configured --metrics-addr
        host, _, port = address.rpartition(":")
        self._metrics_runner = web.AppRunner(self.metrics.app(), handle_signals=False)
        await self._metrics_runner.setup()
        await web.TCPSite(self._metrics_runner, host.strip("[]") or "127.0.0.1", int(port)).start()

    async def stop(self) -> None:
        if self._route_modules is not None:
            # A start cut short: the thread's imports end by themselves, their outcome
            # is nobody's.
            with contextlib.suppress(BaseException):
                await self._route_modules
        if self._warm_up is not None:
            self._warm_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm_up
        if not self.config.live_restore and self.client is not None:
            # Before the API closes, so that event streams see the containers' die events.
            await graceful.stop_containers(self.daemon, self.config.shutdown_timeout)
        # Event streams end cleanly rather than being cut by the server's close: their
        # clients get what was queued (a shutdown's die events) first.
        self.events.close()
        await self.events.delivered(timeout=2.0)
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

    def apply_reload(self, loaded: LoadedConfig) -> None:
        """SIGHUP: the configuration file read again, its reloadable keys applied to the
        running daemon (running containers are not touched); a bad file changes nothing."""
        try:
            changes, not_applied = reload(loaded)
        except ConfigError as exc:
            log.error(
                "reload of %s failed, configuration unchanged: %s", loaded.config.config_file, exc
            )
            return
        config = self.config
        keys = {change.key for change in changes}
        if keys & {"debug", "log-level"}:
            logsetup.set_level(config.log_level)
        if keys & {"runtimes", "default-runtime"}:
            self.daemon.runtimes = config.runtimes()
        if keys & {
            "registry-mirrors",
            "insecure-registries",
            "max-concurrent-downloads",
            "max-concurrent-uploads",
            "max-download-attempts",
        }:
            self.images.registry_config = registry_settings(config)
        for change in changes:
            log.info("reload: %s", change.describe())
        if not changes:
            log.info("reload: nothing changed")
        for key in not_applied:
            log.warning("reload: %s changed in the file: it applies at the next start", key)


# After the daemon answers: clients that were waiting for it come first.
API_MODELS_AFTER = 1.0


async def _build_api_models() -> None:
    """The API models' validators, deferred at import (wire.base.ApiModel), built soon after
    the daemon answers: one a loop turn, so that requests meanwhile wait for one at most,
    and the first create does not wait for all of them (one before builds its own)."""
    await asyncio.sleep(API_MODELS_AFTER)
    for model in deferred_models():
        build_deferred(model)
        await asyncio.sleep(0)


def container_defaults(config: DaemonConfig) -> ContainerDefaults:
    return ContainerDefaults(
        log_driver=config.log_driver,
        log_opts=dict(config.log_opts),
        shm_size=config.default_shm_size,
        ulimits=config.ulimits(),
        seccomp=config.seccomp_profile_text,
        dns=tuple(config.dns),
        dns_search=tuple(config.dns_search),
        dns_options=tuple(config.dns_opts),
    )


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


FORCE_AFTER = 3  # interrupts that end the daemon without cleanup


async def run(loaded: LoadedConfig) -> None:
    config = loaded.config
    activated = systemd.listen_sockets()
    if any(host.startswith("fd://") for host in config.hosts) and not activated:
        raise ConfigError(NO_ACTIVATED_SOCKETS)
    pidfile = PidFile(config.pidfile_path)
    pidfile.write()
    services = Services(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    interrupts = 0

    def interrupted(sig: signal.Signals) -> None:
        # As dockerd: the third SIGTERM/SIGINT ends the process at once, without cleanup
        # (a shutdown waiting on containers that will not stop can be cut short).
        nonlocal interrupts
        interrupts += 1
        stop.set()
        if 1 < interrupts < FORCE_AFTER:
            log.warning("interrupt %d received: shutting down (the third forces it)", interrupts)
        if interrupts >= FORCE_AFTER:
            log.error("forcing shutdown without cleanup; %d interrupts received", interrupts)
            logging.shutdown()
            os._exit(128 + sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, interrupted, sig)
    loop.add_signal_handler(signal.SIGHUP, services.apply_reload, loaded)
    try:
        await services.start(activated)
        settle_after_startup()
        compile_cache.finish()
        systemd.notify("READY=1")
        await stop.wait()
        log.info("shutting down")
        systemd.notify("STOPPING=1")
    finally:
        # SIGHUP keeps its handler to the end: a reload during the shutdown must not
        # kill the daemon (the default action) while it stops containers.
        try:
            with contextlib.suppress(Exception):
                await services.stop()
        finally:
            for sock in activated:
                sock.close()
            pidfile.remove()


def main(argv: list[str] | None = None) -> int:
    try:
        loaded = load(argv)
        check_listeners(loaded.config)
    except ConfigError as exc:
        print(f"mooraged: {exc}", file=sys.stderr)
        return 1
    if loaded.validate_only:
        print("configuration OK")
        return 0
    config = loaded.config
    logsetup.configure(config.log_level, config.log_format)
    try:
        uvloop.run(run(loaded))
    except (ConfigError, FileExistsError, ValueError) as exc:
        # Listeners that cannot be set up (certificates, a socket in use, a missing -G
        # group, fd:// without activation), or a PID file of a daemon still running.
        print(f"mooraged: {exc}", file=sys.stderr)
        return 1
    return 0
