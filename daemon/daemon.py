"""The Daemon: containers and execs on top of libcontainerd, driven by API calls and events.

It is libcontainerd's Backend: task events arrive in order per container and
are turned into inputs of that container's state machine, like API calls are.

This class is the wiring, the lookups and the events; the operations live in modules
named for them under daemon/container/ (create, start, stop, pause, remove, rename,
attach, wait, restore, monitor), each a set of functions that take the Daemon. Those
modules are the Daemon's own code, as Go's files of one package are: they, and only
they, use its underscored state (`_live`, `_creating`, `_background`, `_client()`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from ipaddress import IPv4Network
from typing import Any, Protocol

from libcontainerd.types import Client, EventInfo, EventType
from runtimes import RuntimeTable
from wire.container import ContainerCreateRequest

from . import errors
from .background import BackgroundTasks
from .config import DaemonConfig
from .container import (
    attach,
    create,
    monitor,
    pause,
    remove,
    rename,
    restore,
    start,
    stop,
    wait,
)
from .container.health import HealthMonitor
from .container.io import Attachment, LogSink
from .container.live import LiveContainer
from .container.model import Container, Status
from .container.spec import ContainerSpecs
from .container.state import Input, StateMachine, transition_event
from .container.store import ContainerStore
from .events import container_attributes
from .execs import ExecManager
from .logs.entry import LogEntry
from .network import legacy_links
from .network.manager import NetworkManager
from .network.runtime import NetworkRuntime
from .network.store import NetworkStore
from .volumes import VolumeService
from .volumes.mounts import as_binds, mounts_of


class Image(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def config(self) -> dict[str, Any]: ...

    @property
    def chain_id(self) -> str: ...


class ImageResolver(Protocol):
    def resolve(self, ref: str) -> Image: ...


EventSink = Callable[[str, str, str, dict[str, str]], None]
LogOpener = Callable[[Container], LogSink | None]


class Daemon:
    def __init__(
        self,
        config: DaemonConfig,
        images: ImageResolver | None,
        specs: ContainerSpecs,
        open_log: LogOpener,
        emit: EventSink,
    ) -> None:
        self.config = config
        self.runtimes: RuntimeTable = config.runtimes()
        self.images: ImageResolver | None = images
        self.specs = specs
        self._open_log = open_log
        self._emit = emit
        self.store = ContainerStore(config.data_root / "containers")
        self.networks = NetworkManager(NetworkStore(config.data_root / "network"), emit)
        self.netrt = NetworkRuntime(self.networks, config.exec_root, enabled=config.networking)
        if config.networking:
            specs.network = self.netrt
            # networking hook: --link resolves containers by name or id
            self.netrt.link_target = lambda ref: legacy_links.target_of(self.store.find(ref))
            self.netrt.link_parents = lambda: [
                legacy_links.Parent(live.model.hosts_path, live.model.host_config["Links"])
                for live in self._live.values()
                if live.model.state.running and live.model.host_config.get("Links")
            ]
        self.volumes = VolumeService(
            config.data_root / "volumes",
            lambda action, name, attributes: emit("volume", action, name, attributes),
        )
        specs.volume_binds = lambda model: as_binds(self.volumes, mounts_of(model.volume_mounts))
        self._live: dict[str, LiveContainer] = {}
        # Creates under way, name -> id: their containerd objects exist before their record.
        self._creating: dict[str, str] = {}
        # Marks what this daemon makes in containerd, so that restore can tell its own
        # leftovers from another daemon's objects in a shared namespace.
        self.owner = os.path.abspath(config.data_root)
        self._reconciling = asyncio.Lock()
        # Set once the first restore has listed containerd's side (restore.py): events
        # before that are dropped, as the listing already shows what they did.
        self.listed = False
        self.execs = ExecManager(self, specs.capabilities)
        self.health = HealthMonitor(self.execs)
        self._background = BackgroundTasks()
        self.client: Client | None = None
        self.containerd_version: tuple[str, str] = ("", "")
        self.daemon_id = secrets.token_hex(16)
        # Set by daemon/shutdown.py: exits then start no restart and stops are not "by
        # hand" (restart policies apply again at the next start), as dockerd's.
        self.shutting_down = False

    def image_count(self) -> int:
        listing = getattr(self.images, "images", None)
        return len(listing()) if callable(listing) else 0

    # -- wiring ------------------------------------------------------------------------

    def attach_client(self, client: Client) -> None:
        self.client = client

    def _client(self) -> Client:
        if self.client is None:
            raise errors.Unavailable("containerd is not connected")
        return self.client

    def load(self, host_routes: Sequence[IPv4Network] = ()) -> None:
        """The saved state; `host_routes` (NetworkRuntime.host_routes) keep a first
        start's default bridge off subnets routed elsewhere."""
        self.networks.load(host_routes)
        self.volumes.load()
        for model in self.store.load():
            self._live[model.id] = self._new_live(model)
            for mount in mounts_of(model.volume_mounts):  # volumes: references rebuilt
                self.volumes.add_ref(mount.name, model.id)

    async def restore(self, before_steps: Awaitable[object] | None = None) -> None:
        """Make containerd and the store agree after a daemon restart (see reconcile.py),
        then apply the restart policies; `before_steps` is awaited between containerd's
        listing and the steps (restore.py)."""
        await restore.restore(self, before_steps)

    async def shutdown(self) -> None:
        await self.health.shutdown()
        await self._background.cancel()
        await self.netrt.close()
        # The stdio of what runs on is let go of, as a daemon process's exit would.
        for live in self._live.values():
            for hub in (live.hub, *(record.hub for record in live.execs.values())):
                await hub.close()
        self.store.close()  # its threads' last erases and syncs

    # -- lookups -------------------------------------------------------------------------

    def get(self, ref: str) -> LiveContainer:
        model = self.store.get(ref)
        return self._live[model.id]

    def find(self, container_id: str) -> LiveContainer | None:
        """By full id only, None when gone (for records that outlive their container)."""
        return self._live.get(container_id)

    def containers(self) -> list[LiveContainer]:
        return list(self._live.values())

    def _new_live(self, model: Container) -> LiveContainer:
        return LiveContainer(model, StateMachine(model, self.store.save, self._state_event))

    def _state_event(self, model: Container, applied: Input, before: Status) -> None:
        """The event of a state transition: each comes from here, once per transition."""
        event = transition_event(model, applied, before)
        if event is not None:
            self._model_event(model, *event)

    def event(self, kind: str, action: str, actor: str, attributes: dict[str, str]) -> None:
        """Publish an event; the daemon is the one way events leave the domain."""
        self._emit(kind, action, actor, attributes)

    def container_event(self, live: LiveContainer, action: str, **extra: str) -> None:
        self._model_event(live.model, action, extra)

    def _model_event(self, model: Container, action: str, extra: dict[str, str]) -> None:
        # The labels as stored, not the copy `model.labels` makes: container_attributes
        # copies them into the event's own dict.
        labels = model.config.get("Labels") or {}
        attributes = container_attributes(model.name, model.image_name, labels, extra)
        self._emit("container", action, model.id, attributes)

    # -- operations (daemon/container/<operation>.py) -----------------------------------

    async def create(
        self, name: str | None, request: ContainerCreateRequest
    ) -> tuple[Container, list[str]]:
        return await create.create(self, name, request)

    async def start(self, ref: str) -> None:
        await start.start(self, ref)

    async def kill(self, ref: str, sig: str | int | None = None) -> None:
        await stop.kill(self, ref, sig)

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        await stop.stop(self, ref, timeout, sig)

    async def restart(
        self, ref: str, timeout: int | None = None, signal: str | None = None
    ) -> None:
        await stop.restart(self, ref, timeout, signal)

    async def pause(self, ref: str) -> None:
        await pause.pause(self, ref)

    async def unpause(self, ref: str) -> None:
        await pause.unpause(self, ref)

    async def resize(self, ref: str, height: int, width: int) -> None:
        await attach.resize(self, ref, height, width)

    def waiter(self, ref: str, condition: str) -> asyncio.Future[int]:
        return wait.waiter(self, ref, condition)

    def forget_waiter(self, ref: str, waiter: asyncio.Future[int]) -> None:
        wait.forget_waiter(self, ref, waiter)

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        """`volumes` (``docker rm -v``): the container's anonymous volumes go with it."""
        await remove.remove(self, ref, force, volumes_too=volumes)

    def remove_link(self, parent_ref: str, alias: str) -> None:
        remove.remove_link(self, parent_ref, alias)

    def rename(self, ref: str, new_name: str) -> None:
        rename.rename(self, ref, new_name)

    def attach(self, ref: str, stdout: bool, stderr: bool) -> tuple[LiveContainer, Attachment]:
        return attach.attach(self, ref, stdout, stderr)

    def logs(
        self,
        ref: str,
        *,
        stdout: bool,
        stderr: bool,
        follow: bool,
        since: float | None,
        until: float | None,
        tail: int | None,
    ) -> tuple[LiveContainer, AsyncGenerator[LogEntry, None]]:
        return attach.logs(
            self,
            ref,
            stdout=stdout,
            stderr=stderr,
            follow=follow,
            since=since,
            until=until,
            tail=tail,
        )

    # -- events from containerd (monitor.py) --------------------------------------------

    async def process_event(
        self, container_id: str, event_type: EventType, info: EventInfo
    ) -> None:
        await monitor.process_event(self, container_id, event_type, info)
