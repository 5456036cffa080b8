"""The Daemon: containers and execs on top of libcontainerd, driven by API calls and events.

It is libcontainerd's Backend: task events arrive in order per container and
are turned into inputs of that container's state machine, like API calls are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

import orjson

from libcontainerd import errors as lcd_errors
from libcontainerd.types import (
    INIT_PROCESS_ID,
    Client,
    EventInfo,
    EventType,
    RuntimeSpec,
    SnapshotSpec,
    StdioSpec,
    Task,
    TaskStatus,
)
from libcontainerd.types import Container as LcdContainer
from runtimes import RuntimeTable, UnknownRuntimeError
from wire.container import ContainerCreateRequest

from . import errors
from .background import BackgroundTasks
from .config import DaemonConfig
from .container.health import HealthMonitor
from .container.io import Attachment, LogSink
from .container.live import LiveContainer
from .container.model import Container, Status, now_rfc3339
from .container.oom import oom_killed
from .container.reconcile import OWNER_LABEL, Kind, RecordView, Step, plan, task_steps
from .container.restart import RestartPolicy
from .container.spec import ContainerSpecs
from .container.state import Input, StateMachine
from .container.store import ContainerStore
from .events import container_attributes
from .execs import ExecManager
from .logs.config import ensure_readable
from .logs.entry import LogEntry
from .logs.jsonfile import JsonFileWriter
from .logs.reader import read_logs
from .names import generate_name, validate_name
from .network import legacy_links
from .network.manager import NetworkManager
from .network.runtime import NetworkRuntime
from .network.store import NetworkStore
from .signals import parse_signal
from .volumes import VolumeService
from .volumes.mounts import (
    VolumeMount,
    as_binds,
    copy_image_content,
    inherited_volumes,
    mounts_of,
    plan_volumes,
)

log = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT = 10
# How long a SIGKILLed task may take to be reported exited before containerd is asked.
KILL_EXIT_TIMEOUT = 10.0


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


def start_exit_code(message: str) -> int:
    """The exit code dockerd gives a container whose start failed, read from the error."""
    lowered = message.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return 127
    if "permission denied" in lowered:
        return 126
    return 128


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
        self.execs = ExecManager(self, specs.capabilities)
        self.health = HealthMonitor(self.execs, self.store.save, self.container_event)
        self._background = BackgroundTasks()
        self.client: Client | None = None
        self.containerd_version: tuple[str, str] = ("", "")
        self.daemon_id = secrets.token_hex(16)

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

    def load(self) -> None:
        self.networks.load()
        self.volumes.load()
        for model in self.store.load():
            self._live[model.id] = self._new_live(model)
            for mount in mounts_of(model.volume_mounts):  # volumes: references rebuilt
                self.volumes.add_ref(mount.name, model.id)

    async def restore(self) -> None:
        """Make containerd and the store agree after a daemon restart (see reconcile.py),
        then apply the restart policies."""
        await self._reconcile()
        self._client().on_reconnect(self._containerd_back)
        for live in self._live.values():
            if not live.model.state.running:
                await self.netrt.teardown(live.id, timed=False)  # networking: left by a crash
        # networking: ports held again, rules rebuilt, embedded DNS served again
        await self.netrt.restore({live.id: live.model.host_config for live in self._live.values()})
        for live in self._live.values():
            if live.model.state.running:
                await self._mount_volumes(live, announce=False)  # volumes: counted again
        await self.volumes.unmount_idle()
        for live in self._live.values():
            model = live.model
            policy = RestartPolicy.of(model.host_config)
            if (
                model.state.status is Status.EXITED
                and model.has_been_started
                and policy.at_daemon_start(
                    model.state.exit_code, model.manually_stopped, model.restart_count
                )
            ):
                self._schedule_restart(live, 0.0)

    def _containerd_back(self) -> None:
        # What was under way when containerd went away may have half happened.
        self._background.spawn(self._reconcile(), name="reconcile")

    async def _reconcile(self) -> None:
        """List containerd's side and apply the plan, holding every container's lock so
        that no operation changes either side meanwhile (creates under way are left be)."""
        async with self._reconciling, contextlib.AsyncExitStack() as locks:
            held = list(self._live.values())
            for live in held:
                await locks.enter_async_context(live.lock)
            inventory = await self._client().restore()
            lcds = {c.id: c for c in inventory.containers}
            for live in held:
                live.lcd = lcds.get(live.id)
            records = [
                RecordView(live.id, live.model.state.status, live.model.state.recorded_exit)
                for live in held
                if live.id in self._live  # not removed while the locks were taken
            ]
            # Creates that began (or ended) meanwhile are not part of this reconcile.
            busy = set(self._creating.values()) | (set(self._live) - {r.id for r in records})
            steps = plan(
                records,
                [c.record for c in inventory.containers],
                inventory.tasks,
                inventory.snapshots,
                self.owner,
                busy=busy,
            )
            # Steps concern one container each (or one snapshot): done side by side, as a
            # discarded task's kill may take a while to be reported.
            await asyncio.gather(*(self._apply_logged(step, lcds) for step in steps))

    async def _apply_logged(self, step: Step, lcds: dict[str, LcdContainer]) -> None:
        if step.kind is not Kind.REATTACH:
            log.warning("restore: %s %s: %s", step.kind.value, step.id[:12], step.describe())
        try:
            await self._apply(step, lcds)
        except (lcd_errors.LibcontainerdError, errors.DaemonError) as exc:
            log.error("restore: %s %s failed: %s", step.kind.value, step.id[:12], exc)

    async def _apply(self, step: Step, lcds: dict[str, LcdContainer]) -> None:
        if step.kind is Kind.ORPHAN_TASK:
            # Labelled ours, so that a rescue cut short is finished by the next restore.
            await self._client().rescue_orphan_task(step.id, {OWNER_LABEL: self.owner})
            return
        if step.kind is Kind.REMOVE_SNAPSHOT:
            await self._client().remove_snapshot(step.id)
            return
        if step.kind is Kind.REMOVE_CONTAINER:
            lcd = lcds[step.id]
            if lcd.found_task is None:
                await lcd.probe_task()  # a task the list left out must not be orphaned
            await lcd.delete()
            return
        live = self._live.get(step.id)
        if live is not None:
            await self._apply_to(live, step)

    async def _apply_to(self, live: LiveContainer, step: Step) -> None:
        machine = live.machine
        if step.kind is Kind.FINISH_REMOVAL:
            await self._finish_removal(live)
            return
        if step.kind is Kind.RECREATE:
            await self._recreate(live, step.snapshot_exists)
            return
        assert live.lcd is not None
        if step.kind is Kind.LOST_TASK:
            found = await live.lcd.probe_task()
            if found is None:
                await self.netrt.teardown(live.id, timed=False)
                machine.apply(Input.EXITED, exit_code=step.exit_code)
                return
            record = RecordView(live.id, live.model.state.status, live.model.state.recorded_exit)
            for again in task_steps(record, found):
                await self._apply_to(live, again)
            return
        if step.kind is Kind.DISCARD_TASK:
            await live.lcd.delete_task()
            await self.netrt.teardown(live.id, timed=False)
            machine.apply(Input.EXITED, exit_code=step.exit_code)
            return
        task = await live.lcd.attach_task()
        if task is None:
            return
        if step.kind is Kind.COLLECT_EXIT:
            task.stdio.close()  # nobody will read the output of this ended run
            exit_status = await task.delete()
            await self.netrt.teardown(live.id, timed=False)
            # A run whose start the store never heard of ran and ended: it shows as such.
            machine.apply(Input.STARTED, pid=step.pid)
            machine.apply(Input.EXITED, exit_code=exit_status.exit_code, at=exit_status.exited_at)
            return
        # REATTACH or ADOPT: the task runs, and so does the container.
        if not live.hub.running:
            self._start_copying(live, task)
            live.hub.open_stdin()  # it runs already
        if machine.apply(Input.STARTED, pid=step.pid):
            live.started_monotonic = time.monotonic()
        elif live.model.state.pid != step.pid and live.model.state.running:
            live.model.state.pid = step.pid
            self.store.save(live.model)
        if step.task_status is TaskStatus.PAUSED:
            machine.apply(Input.PAUSED)
        else:
            machine.apply(Input.RESUMED)
        if live.model.state.running:
            self.health.start(live)

    async def _recreate(self, live: LiveContainer, snapshot_exists: bool) -> None:
        model = live.model
        try:
            if self.images is None:
                raise errors.Unavailable("the image service is not running")
            image = self.images.resolve(model.image_id)
            live.lcd = await self._new_lcd(model, image, exists=snapshot_exists)
        except (lcd_errors.LibcontainerdError, errors.DaemonError) as exc:
            live.machine.apply(Input.EXITED, exit_code=255)
            live.machine.apply(Input.BROKEN, error=f"containerd container lost: {exc}")
            raise
        # A task left without its container is reachable again (one Tasks.Get, here only).
        found = await live.lcd.probe_task()
        if found is None:
            live.machine.apply(Input.EXITED, exit_code=255)
            return
        record = RecordView(live.id, live.model.state.status, live.model.state.recorded_exit)
        for step in task_steps(record, found):
            await self._apply_to(live, step)

    async def shutdown(self) -> None:
        await self.health.shutdown()
        await self._background.cancel()
        await self.netrt.close()
        # The stdio of what runs on is let go of, as a daemon process's exit would.
        for live in self._live.values():
            for hub in (live.hub, *(record.hub for record in live.execs.values())):
                await hub.close()

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
        action = _TRANSITION_EVENTS.get(applied)
        if action is None or (applied is Input.EXITED and before is Status.RESTARTING):
            return  # a pending restart called off: its run died (and said so) already
        extra = {"exitCode": str(model.state.exit_code)} if applied is Input.EXITED else {}
        self._model_event(model, action, extra)

    def event(self, kind: str, action: str, actor: str, attributes: dict[str, str]) -> None:
        """Publish an event; the daemon is the one way events leave the domain."""
        self._emit(kind, action, actor, attributes)

    def container_event(self, live: LiveContainer, action: str, **extra: str) -> None:
        self._model_event(live.model, action, extra)

    def _model_event(self, model: Container, action: str, extra: dict[str, str]) -> None:
        attributes = container_attributes(model.name, model.image_name, model.labels, extra)
        self._emit("container", action, model.id, attributes)

    # -- create ------------------------------------------------------------------------

    async def _new_lcd(self, model: Container, image: Image, exists: bool = False) -> LcdContainer:
        """The containerd container (and snapshot) of `model`: Snapshots.Prepare (or
        Mounts, for a snapshot that `exists`) and Containers.Create."""
        owner = {OWNER_LABEL: self.owner}
        return await self._client().new_container(
            model.id,
            self.specs.factory(model),
            self._runtime_spec(model.runtime),
            SnapshotSpec(key=model.id, parent=image.chain_id, labels=owner, exists=exists),
            image=model.image_name,
            labels={"moorage.name": model.name, **owner},
        )

    async def create(
        self, name: str | None, request: ContainerCreateRequest
    ) -> tuple[Container, list[str]]:
        config, host_config = request.parts()
        endpoints_config = request.endpoints_config()
        canonical = validate_name(name) if name else None
        if canonical is not None:
            self._check_name_free(canonical)
        image_ref = str(config.get("Image") or "")
        if not image_ref:
            raise errors.InvalidParameter("No image was specified")
        if self.images is None:
            raise errors.Unavailable("the image service is not running")
        try:
            image = self.images.resolve(image_ref)
        except errors.NotFound:
            raise errors.NotFound(f"No such image: {image_ref}") from None
        try:
            runtime = self.runtimes.get(host_config.get("Runtime") or None)
        except UnknownRuntimeError as exc:
            raise errors.InvalidParameter(str(exc)) from None

        container_id = secrets.token_hex(32)
        if canonical is None:
            canonical = generate_name(
                {c.model.name for c in self._live.values()} | set(self._creating)
            )
        directory = self.store.directory_for(container_id)
        host_config = dict(host_config)
        host_config["Runtime"] = runtime.name
        model = Container(
            id=container_id,
            name=canonical,
            created=now_rfc3339(),
            path="",
            args=[],
            config=dict(config),
            host_config=host_config,
            image_id=image.id,
            runtime=runtime.name,
            directory=str(directory),
        )
        warnings = self.specs.prepare_create(model, _runtime_config(image), request)
        self.specs.inherit_mounts(model, self.store.get)
        endpoint = self.netrt.endpoint_request(
            model.host_config, endpoints_config, str(model.config.get("MacAddress") or "")
        )
        self.netrt.check_links(model.host_config, canonical)  # networking hook: --link
        self._check_name_free(canonical)  # again: the image lookup did not hold a lock
        volume_mounts = plan_volumes(
            self.volumes,
            container_id,
            model.host_config,
            model.config.get("Volumes") or {},
            self._volumes_from(model.host_config),
        )
        model.volume_mounts = [m.as_json() for m in volume_mounts]
        # containerd first, the record last: a crash in between leaves only containerd
        # objects with this daemon's owner label and no record, which restore removes.
        self._creating[canonical] = container_id
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            live = self._new_live(model)
            try:
                live.lcd = await self._new_lcd(model, image)
            except lcd_errors.LibcontainerdError as exc:
                raise errors.SystemError(str(exc)) from None
            try:
                await copy_image_content(
                    self.volumes,
                    container_id,
                    volume_mounts,
                    await live.lcd.rootfs_mounts(),
                    self.config.exec_root / "rootfs",
                )
                self.store.add(model)
            except BaseException:
                with contextlib.suppress(lcd_errors.LibcontainerdError):
                    await live.lcd.delete()
                raise
        except BaseException:
            self.store.remove(model)
            self._release_volumes(model, remove_anonymous=True)
            raise
        finally:
            del self._creating[canonical]
        self._live[container_id] = live
        self.netrt.container_created(container_id, canonical, model.host_config, endpoint)
        self.container_event(live, "create")
        return model, warnings + self._warnings(model.host_config)

    def _check_name_free(self, name: str) -> None:
        owner = self.store.name_owner(name) or self._creating.get(name)
        if owner is not None:
            raise errors.Conflict(
                f'Conflict. The container name "{name}" is already in use by container '
                f'"{owner}". You have to remove (or rename) that container to be able to '
                "reuse that name."
            )

    def _warnings(self, host_config: dict[str, Any]) -> list[str]:
        mode = host_config.get("NetworkMode") or "default"
        if mode in ("default", "bridge") and not self.config.networking:
            return [
                "bridge networking is off (--bridge=none): the container gets its own "
                "network namespace with loopback only"
            ]
        return []

    def _runtime_spec(self, name: str) -> RuntimeSpec:
        runtime = self.runtimes.get(name)
        return RuntimeSpec(
            runtime.shim, binary=runtime.path, root=str(self.config.exec_root / "runc")
        )

    # -- start -------------------------------------------------------------------------

    async def start(self, ref: str) -> None:
        live = self.get(ref)
        async with live.lock:
            status = live.model.state.status
            if status is Status.PAUSED:
                raise errors.Conflict("cannot start a paused container, try unpause instead")
            if status in (Status.RUNNING, Status.RESTARTING):
                raise errors.NotModified()
            if status in (Status.REMOVING, Status.DEAD):
                raise errors.Conflict(
                    f"container {live.id} is marked for removal and cannot be started"
                )
            # A start by the user starts the restart policy's count and backoff over.
            live.model.restart_count = 0
            live.backoff.reset()
            await self._start_locked(live)

    async def _start_locked(self, live: LiveContainer) -> None:
        if live.lcd is None:
            raise errors.SystemError(f"container {live.id} has no containerd record")
        config = live.model.config
        stdio = StdioSpec(
            stdin=bool(config.get("OpenStdin")),
            stdout=True,
            stderr=True,
            terminal=bool(config.get("Tty")),
        )
        task = None
        try:
            model = live.model
            await self.netrt.setup(model.id, model.name, model.config, model.host_config)
            await self._mount_volumes(live)
            await self._refresh_spec(live)
            task = await live.lcd.new_task(stdio)
            self._start_copying(live, task)
            pid = await task.start()
            live.hub.open_stdin()
        except (lcd_errors.LibcontainerdError, errors.DaemonError) as exc:
            message = str(exc)
            if task is not None:
                # Rolled back whatever the failed call left (a start that did happen too);
                # if containerd cannot be reached, the reconcile when it is back decides.
                with contextlib.suppress(lcd_errors.LibcontainerdError):
                    await live.lcd.delete_task()
            await self.netrt.teardown(live.id, timed=False)  # networking: nothing half set up
            await self._unmount_volumes(live)
            live.machine.apply(
                Input.START_FAILED, error=message, exit_code=start_exit_code(message)
            )
            live.hub.end_run()
            if live.model.host_config.get("AutoRemove"):
                self._background.spawn(self._auto_remove(live), name=f"autoremove-{live.id[:12]}")
            raise errors.SystemError(message) from None
        live.started_monotonic = time.monotonic()
        live.machine.apply(Input.STARTED, pid=pid)
        self.health.start(live)

    async def _refresh_spec(self, live: LiveContainer) -> None:
        """Build the spec again; containerd hears of it only when it changed."""
        assert live.lcd is not None
        spec = self.specs.for_start(live.model, await live.lcd.rootfs_mounts())
        if _as_json(spec) != _as_json(live.lcd.record.spec):
            await live.lcd.update_spec(spec)

    # -- volumes -------------------------------------------------------------------------

    async def _mount_volumes(self, live: LiveContainer, announce: bool = True) -> None:
        """Each volume's filesystem mounted for the run (those with DriverOpts); a
        "mount" event per volume, as dockerd sends at start."""
        for mount in mounts_of(live.model.volume_mounts):
            await self.volumes.mount(mount.name, live.id)
            if announce:
                self._emit(
                    "volume",
                    "mount",
                    mount.name,
                    {
                        "container": live.id,
                        "destination": mount.destination,
                        "driver": "local",
                        "propagation": "",
                        "read/write": str(mount.rw).lower(),
                    },
                )

    def _volumes_from(self, host_config: dict[str, Any]) -> list[VolumeMount]:
        """The volumes HostConfig.VolumesFrom takes from other containers ("name[:mode]";
        later entries win at a destination). The entries' syntax and the sources'
        existence are checked with the bind and tmpfs copies (daemon/oci)."""
        found: dict[str, VolumeMount] = {}
        for raw in host_config.get("VolumesFrom") or []:
            ref, _, mode = str(raw).partition(":")
            try:
                source = self.get(ref)
            except errors.NotFound:
                continue
            for mount in inherited_volumes(source.model.volume_mounts, mode):
                found[mount.destination] = mount
        return list(found.values())

    async def _unmount_volumes(self, live: LiveContainer) -> None:
        """The run's use of its volumes ends (once: an "unmount" event each)."""
        for mount in mounts_of(live.model.volume_mounts):
            if await self.volumes.unmount(mount.name, live.id):
                self._emit(
                    "volume", "unmount", mount.name, {"container": live.id, "driver": "local"}
                )

    def _release_volumes(self, model: Container, remove_anonymous: bool) -> None:
        """The container no longer uses its volumes; with `remove_anonymous` the ones made
        for it go too (unless another container uses one, as with VolumesFrom)."""
        self.volumes.drop_refs(model.id)
        if not remove_anonymous:
            return
        for mount in mounts_of(model.volume_mounts):
            if mount.named:
                continue
            try:
                self.volumes.remove(mount.name, force=True)
            except errors.DaemonError as exc:
                log.info("keeping volume %s of %s: %s", mount.name, model.id[:12], exc)

    def _start_copying(self, live: LiveContainer, task: Task) -> None:
        live.hub.start_run(task.stdio, self._open_log(live.model), task.close_stdin)

    # -- events from containerd ---------------------------------------------------------

    async def process_event(
        self, container_id: str, event_type: EventType, info: EventInfo
    ) -> None:
        live = self._live.get(container_id)
        if live is None:
            return
        if event_type is EventType.EXIT and info.process_id != INIT_PROCESS_ID:
            await self.execs.exited(live, info)
            return
        # A start holds the lock until its STARTED input is applied: a process that dies
        # (or is OOM-killed) at once must not have its events applied before that.
        async with live.lock:
            if event_type is EventType.EXIT:
                await self._task_exited(live, info)
            elif event_type is EventType.OOM:
                live.machine.apply(Input.OOM)
            elif event_type is EventType.PAUSED:
                live.machine.apply(Input.PAUSED)
            elif event_type is EventType.RESUMED:
                live.machine.apply(Input.RESUMED)
            elif event_type is EventType.START:
                await self._task_started(live)

    async def _task_started(self, live: LiveContainer) -> None:
        """A task started that no start of the daemon's finished (one that failed as
        containerd went away, or one started behind the daemon's back): adopted, as
        restore would. A start of the daemon's own has applied STARTED before this runs
        (it holds the lock), so this costs nothing on the normal path."""
        state = live.model.state
        if state.running or state.status in (Status.REMOVING, Status.DEAD) or live.lcd is None:
            return
        try:
            found = await live.lcd.probe_task()  # a Tasks.Get unless the task is known
        except lcd_errors.LibcontainerdError as exc:
            log.warning("task of %s started, state unknown: %s", live.id[:12], exc)
            return
        if found is not None:
            record = RecordView(live.id, state.status, state.recorded_exit)
            for step in task_steps(record, found):
                log.warning("%s %s: %s", step.kind.value, live.id[:12], step.describe())
                await self._apply_to(live, step)

    async def _task_exited(self, live: LiveContainer, info: EventInfo) -> None:
        self.health.stop(live)
        task = live.task
        # Read before Tasks.Delete, which removes the cgroup with its OOM count.
        if info.exit_code == 137 and not live.model.state.oom_killed and live.lcd is not None:
            cgroup = live.lcd.record.spec.get("linux", {}).get("cgroupsPath", "")
            if oom_killed(cgroup):
                live.machine.apply(Input.OOM)
        if task is not None:
            # Tasks.Delete makes containerd forget the exit code: written down first.
            live.machine.apply(Input.EXIT_SEEN, exit_code=info.exit_code)
            try:
                await task.delete()
            except lcd_errors.NotFoundError:
                pass
            except lcd_errors.LibcontainerdError as exc:
                # Still there and not deletable: the exit was not real (or containerd went
                # away); the reconcile when it is back settles it.
                log.warning("exit of %s not confirmed: %s", live.id[:12], exc)
                return
        await self.netrt.teardown(live.id)  # networking: endpoints and sandbox go
        await self._unmount_volumes(live)
        # After the delete: the shim has then closed its ends of the FIFOs.
        await live.hub.drain()
        for record in list(live.execs.values()):
            self.execs.finish(record, record.exit_code if record.exit_code is not None else 137)
        if not live.machine.apply(Input.EXITED, exit_code=info.exit_code, at=info.exited_at):
            return
        if live.model.host_config.get("AutoRemove"):
            self._background.spawn(self._auto_remove(live), name=f"autoremove-{live.id[:12]}")
            return
        model = live.model
        policy = RestartPolicy.of(model.host_config)
        if policy.after_exit(info.exit_code, model.manually_stopped, model.restart_count):
            ran_for = time.monotonic() - live.started_monotonic
            self._schedule_restart(live, live.backoff.next(ran_for))

    def _schedule_restart(self, live: LiveContainer, delay: float) -> None:
        live.machine.apply(Input.RESTARTING)
        live.restart_timer = self._background.spawn(
            self._restart_after(live, delay), name=f"restart-{live.id[:12]}"
        )

    async def _restart_after(self, live: LiveContainer, delay: float) -> None:
        await asyncio.sleep(delay)  # the policy's backoff, not a wait for some state
        async with live.lock:
            if live.restart_timer is not asyncio.current_task():
                return
            live.restart_timer = None
            if live.model.state.status is not Status.RESTARTING or live.model.manually_stopped:
                return
            live.model.restart_count += 1
            try:
                await self._start_locked(live)
            except errors.DaemonError as exc:
                log.warning("restart of %s failed: %s", live.id[:12], exc)

    async def _cancel_restart(self, live: LiveContainer) -> bool:
        """Stop a pending restart; True if the container was waiting for one.

        Under the lock, so that a restart already under way finishes first (and the
        caller then stops a running container instead).
        """
        if live.model.state.status is not Status.RESTARTING:
            return False
        async with live.lock:
            live.cancel_restart()
            if live.model.state.status is not Status.RESTARTING:
                return False
            live.machine.apply(Input.EXITED, exit_code=live.model.state.exit_code)
            return True

    async def _auto_remove(self, live: LiveContainer) -> None:
        try:
            await self.remove(live.id, force=True, volumes=True)  # as dockerd's AutoRemove
        except errors.DaemonError as exc:
            log.error("auto-remove of %s failed: %s", live.id[:12], exc)

    # -- stop, kill, pause ---------------------------------------------------------------

    def _running_task(self, live: LiveContainer, prefix: str = "") -> Task:
        task = live.task
        if not live.model.state.running or task is None:
            raise errors.Conflict(f"{prefix}Container {live.id} is not running")
        return task

    async def kill(self, ref: str, sig: str | int | None = None) -> None:
        # dockerd checks the signal first, and names the failed kill in a missing container's text.
        number = parse_signal(sig)
        try:
            live = self.get(ref)
        except errors.NotFound as exc:
            raise errors.NotFound(f"Cannot kill container: {ref}: {exc}") from None
        task = self._running_task(live, f"Cannot kill container: {ref}: ")
        if number == signal.SIGKILL:
            # As dockerd: SIGKILL (the default) returns once the container has exited, so
            # an inspect or a remove right after it sees a stopped container. The wait is
            # on the state machine (no RPC), bounded as stop's and rm -f's are.
            self.container_event(live, "kill", signal=str(number))
            try:
                await self._kill_and_wait(live)
            except lcd_errors.UnavailableError as exc:
                raise errors.SystemError(f"Cannot kill container: {ref}: {exc}") from None
            except lcd_errors.LibcontainerdError:
                raise errors.SystemError(
                    f"Cannot kill container: {ref}: tried to kill container, "
                    "but did not receive an exit event"
                ) from None
            return
        try:
            await task.kill(number)
        except lcd_errors.NotFoundError:
            raise errors.Conflict(
                f"Cannot kill container: {ref}: Container {live.id} is not running"
            ) from None
        self.container_event(live, "kill", signal=str(number))

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        live = self.get(ref)
        if not live.model.state.running:
            raise errors.NotModified()
        await self._stop(live, timeout, sig)
        self.container_event(live, "stop")

    async def _stop(self, live: LiveContainer, timeout: int | None, sig: str | None) -> None:
        live.model.manually_stopped = True
        if await self._cancel_restart(live):
            return
        config = live.model.config
        number = parse_signal(sig or config.get("StopSignal"), default=signal.SIGTERM)
        if timeout is None:
            stop_timeout = config.get("StopTimeout")
            timeout = int(stop_timeout) if stop_timeout is not None else DEFAULT_STOP_TIMEOUT
        live.model.manually_stopped = True
        exited = live.machine.next_exit()
        task = live.task
        if task is None:
            return
        if live.model.state.paused:
            # A frozen process cannot act on a signal until it is thawed.
            with contextlib.suppress(lcd_errors.LibcontainerdError):
                await task.kill(number)
                await task.resume()
        else:
            with contextlib.suppress(lcd_errors.LibcontainerdError):
                await task.kill(number)
        self.container_event(live, "kill", signal=str(number))
        if timeout >= 0:
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(exited)
                return
            except TimeoutError:
                pass
        live.machine.forget_waiter(exited)
        try:
            await self._kill_and_wait(live)
        except lcd_errors.LibcontainerdError as exc:
            raise errors.SystemError(f"Cannot kill container: {live.id}: {exc}") from None
        self.container_event(live, "kill", signal=str(int(signal.SIGKILL)))

    async def _kill_and_wait(self, live: LiveContainer) -> None:
        """SIGKILL the task and wait for its exit, bounded: a kill that cannot reach
        containerd is raised rather than waited on for ever; after 10 s containerd is asked,
        and a task it no longer has (or has stopped) is taken as exited."""
        exited = live.machine.next_exit()
        try:
            task = live.task
            gone = task is None
            if task is not None:
                try:
                    await task.kill(signal.SIGKILL)
                    if live.model.state.paused:
                        await task.resume()
                except lcd_errors.NotFoundError:
                    gone = True  # ended already, or unknown to containerd: ask it below
                except lcd_errors.UnavailableError:
                    raise
                except lcd_errors.LibcontainerdError as exc:
                    # e.g. the shim's connection closing as the process ends: the exit
                    # (or containerd, asked below) tells.
                    log.info("kill of %s: %s", live.id[:12], exc)
            if not gone:
                try:
                    async with asyncio.timeout(KILL_EXIT_TIMEOUT):
                        await asyncio.shield(exited)
                    return
                except TimeoutError:
                    pass
            async with live.lock:
                state = live.model.state
                if not state.running:
                    return
                found = await live.lcd.probe_task() if live.lcd is not None else None
                if found is not None and found.status is not TaskStatus.STOPPED:
                    raise lcd_errors.UnknownError(f"no exit {KILL_EXIT_TIMEOUT:g}s after SIGKILL")
                code = state.recorded_exit if state.recorded_exit is not None else 255
                if found is not None and live.lcd is not None:
                    code = found.exit_code  # its exit event was lost, not its exit
                    await live.lcd.delete_task()
                live.machine.apply(Input.EXITED, exit_code=code)
        finally:
            live.machine.forget_waiter(exited)

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        live = self.get(ref)
        if live.model.state.running:
            await self._stop(live, timeout, None)
        async with live.lock:
            if not live.model.state.running:
                await self._start_locked(live)
        self.container_event(live, "restart")

    async def pause(self, ref: str) -> None:
        live = self.get(ref)
        task = self._running_task(live)
        if live.model.state.paused:
            raise errors.Conflict(f"Container {live.id} is already paused")
        await task.pause()
        live.machine.apply(Input.PAUSED)

    async def unpause(self, ref: str) -> None:
        live = self.get(ref)
        task = live.task
        if not live.model.state.paused or task is None:
            raise errors.SystemError(f"Container {live.id} is not paused")
        await task.resume()
        live.machine.apply(Input.RESUMED)

    async def resize(self, ref: str, height: int, width: int) -> None:
        live = self.get(ref)
        task = self._running_task(live)
        await task.resize(width, height)

    # -- wait, remove, rename -------------------------------------------------------------

    def waiter(self, ref: str, condition: str) -> asyncio.Future[int]:
        """A future for `docker wait`; made before any byte of the reply is sent."""
        live = self.get(ref)
        if condition in ("", "not-running"):
            return live.machine.not_running()
        if condition == "next-exit":
            return live.machine.next_exit()
        if condition == "removed":
            return live.machine.removal()
        raise errors.InvalidParameter(f'invalid condition: "{condition}"')

    def forget_waiter(self, ref: str, waiter: asyncio.Future[int]) -> None:
        # Resolved as `waiter()` resolved it (short ids too), so no waiter is left behind.
        try:
            live = self.get(ref)
        except errors.DaemonError:
            return  # removed meanwhile: its waiters went with it
        live.machine.forget_waiter(waiter)

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        """`volumes` (``docker rm -v``): the container's anonymous volumes go with it."""
        live = self.get(ref)
        if live.model.state.status is Status.REMOVING:
            raise errors.Conflict(f"removal of container {live.id} is already in progress")
        if force:
            # The container is going away: no restart policy may bring it back.
            live.model.manually_stopped = True
            await self._cancel_restart(live)
        if live.model.state.running:
            if not force:
                raise errors.Conflict(
                    f"You cannot remove a running container {live.id}. Stop the container "
                    "before attempting removal or force remove"
                )
            try:
                await self._kill_and_wait(live)
            except lcd_errors.LibcontainerdError as exc:
                raise errors.SystemError(
                    f"Could not kill running container {live.id}, cannot remove - {exc}"
                ) from None
        async with live.lock:
            if not live.machine.apply(Input.REMOVING):
                raise errors.Conflict(f"removal of container {live.id} is already in progress")
            try:
                await self._finish_removal(live, remove_volumes=volumes)
            except lcd_errors.LibcontainerdError as exc:
                live.machine.apply(Input.REMOVE_FAILED, error=str(exc))
                raise errors.SystemError(f"unable to remove container: {exc}") from None

    async def _finish_removal(self, live: LiveContainer, remove_volumes: bool = False) -> None:
        """Task, containerd container, snapshot, then the record: each step can be redone,
        and the record (status `removing`) stays until the rest is gone."""
        if live.lcd is not None:
            with contextlib.suppress(lcd_errors.NotFoundError):
                await live.lcd.delete()
        else:
            # Its containerd container went first (a removal cut short): the snapshot may not.
            await self._client().remove_snapshot(live.id)
        await self.netrt.teardown(live.id, timed=False)  # networking: a stop cut short
        self.health.stop(live)
        self.execs.forget(live)
        self.networks.container_removed(live.id)  # networking hook: endpoints go
        await self._unmount_volumes(live)
        self.store.remove(live.model)
        self._live.pop(live.id, None)
        self._release_volumes(live.model, remove_anonymous=remove_volumes)
        live.machine.apply(Input.REMOVED)

    def remove_link(self, parent_ref: str, alias: str) -> None:
        """`docker rm --link parent/alias`: the parent keeps running, without that link."""
        name = f"{parent_ref}/{alias}"
        try:
            live = self.get(parent_ref)
        except errors.NotFound:
            raise errors.NotFound(f"No such container: {name}") from None
        links = [str(entry) for entry in live.model.host_config.get("Links") or []]
        kept = [entry for entry in links if legacy_links.parse(entry)[1] != alias]
        if len(kept) == len(links):
            raise errors.NotFound(f"No such container: {name}")
        live.model.host_config["Links"] = kept or None
        self.store.save(live.model)

    def rename(self, ref: str, new_name: str) -> None:
        live = self.get(ref)
        canonical = validate_name(new_name)
        if canonical == live.model.name:
            raise errors.InvalidParameter(
                "Renaming a container with the same name as its current name"
            )
        self._check_name_free(canonical)
        old = live.model.name
        self.store.rename(live.model, canonical)
        self.networks.container_renamed(live.id, canonical)  # networking hook
        self.container_event(live, "rename", oldName=old)

    # -- attach --------------------------------------------------------------------------

    def attach(self, ref: str, stdout: bool, stderr: bool) -> tuple[LiveContainer, Attachment]:
        live = self.get(ref)
        if live.model.state.status in (Status.REMOVING, Status.DEAD):
            raise errors.Conflict("You cannot attach to a stopped container, start it first")
        attachment = live.hub.attach(stdout, stderr)
        self.container_event(live, "attach")
        return live, attachment

    # -- logs ----------------------------------------------------------------------------

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
        live = self.get(ref)
        log_config = live.model.host_config.get("LogConfig") or {}
        ensure_readable(log_config.get("Type") or "json-file")
        if not (stdout or stderr):
            raise errors.InvalidParameter("Bad parameters: you must choose at least one stream")
        writer = live.hub.sink if live.hub.running else None
        entries = read_logs(
            str(live.model.log_path),
            since=since,
            until=until,
            tail=tail,
            follow=follow and writer is not None,
            stdout=stdout,
            stderr=stderr,
            writer=writer if isinstance(writer, JsonFileWriter) else None,
        )
        return live, entries


def _as_json(document: Any) -> Any:
    # orjson: done twice per start on the whole spec; the stdlib was 3% of the K=8 lifecycle.
    try:
        return orjson.loads(orjson.dumps(document))
    except orjson.JSONEncodeError:  # an int beyond 64 bits: the stdlib takes it
        return json.loads(json.dumps(document))


def _runtime_config(image: Image) -> dict[str, Any]:
    """The runtime part (Env, Cmd, ...) of an image config document."""
    document = image.config
    runtime = document.get("config", document) if isinstance(document, dict) else {}
    return runtime or {}


# The container event each state transition makes, as dockerd names them.
_TRANSITION_EVENTS = {
    Input.STARTED: "start",
    Input.EXITED: "die",
    Input.OOM: "oom",
    Input.PAUSED: "pause",
    Input.RESUMED: "unpause",
    Input.REMOVED: "destroy",
}
