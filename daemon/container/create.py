"""`docker create`: a new container's record, its containerd objects and its volumes.

The record is made durable while containerd's two RPCs (Snapshots.Prepare,
Containers.Create) are in flight, in a store thread (`ContainerStore.persist_new`); the
container joins the store and is answered for once both are done. A crash in between
leaves the record with its containerd objects missing or half made, which restore makes
as for any record (reconcile.py): a create whose answer was never sent may or may not
exist after a crash, as with dockerd, which writes its record first. A create that fails
takes its record back, durably, before it answers (`discard_new`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from typing import TYPE_CHECKING, Any

from libcontainerd import errors as lcd_errors
from libcontainerd.dirs import make_private_dir
from libcontainerd.types import Container as LcdContainer
from libcontainerd.types import RuntimeSpec, SnapshotSpec
from runtimes import UnknownRuntimeError
from wire.container import ContainerCreateRequest

from .. import errors
from ..names import generate_name, validate_name
from ..volumes.mounts import copy_image_content, plan_volumes
from . import volumes
from .model import Container, now_rfc3339
from .reconcile import OWNER_LABEL
from .spec import CreateSpec
from .store import encode_state

if TYPE_CHECKING:
    from ..daemon import Daemon, Image


async def new_lcd(
    daemon: Daemon,
    model: Container,
    image: Image,
    exists: bool = False,
    spec: CreateSpec | None = None,
) -> LcdContainer:
    """The containerd container (and snapshot) of `model`: Snapshots.Prepare (or
    Mounts, for a snapshot that `exists`) and Containers.Create, with `spec` (the
    builder create holds) or a builder of its own."""
    owner = {OWNER_LABEL: daemon.owner}
    return await daemon._client().new_container(
        model.id,
        spec or daemon.specs.factory(model, image.chain_id),
        _runtime_spec(daemon, model.runtime),
        SnapshotSpec(key=model.id, parent=image.chain_id, labels=owner, exists=exists),
        image=model.image_name,
        labels={"moorage.name": model.name, **owner},
    )


async def create(
    daemon: Daemon, name: str | None, request: ContainerCreateRequest
) -> tuple[Container, list[str]]:
    config, host_config = request.parts()
    endpoints_config = request.endpoints_config()
    canonical = validate_name(name) if name else None
    if canonical is not None:
        check_name_free(daemon, canonical)
    image_ref = str(config.get("Image") or "")
    if not image_ref:
        raise errors.InvalidParameter("No image was specified")
    if daemon.images is None:
        raise errors.Unavailable("the image service is not running")
    try:
        image = daemon.images.resolve(image_ref)
    except errors.NotFound:
        raise errors.NotFound(f"No such image: {image_ref}") from None
    try:
        runtime = daemon.runtimes.get(host_config.get("Runtime") or None)
    except UnknownRuntimeError as exc:
        raise errors.InvalidParameter(str(exc)) from None

    container_id = secrets.token_hex(32)
    if canonical is None:
        canonical = generate_name(lambda n: _name_owner(daemon, n) is not None)
    directory = daemon.store.directory_for(container_id)
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
        directory=directory,
    )
    warnings = daemon.specs.prepare_create(model, _runtime_config(image), request)
    daemon.specs.inherit_mounts(model, daemon.store.get)
    endpoint = daemon.netrt.endpoint_request(
        model.host_config, endpoints_config, str(model.config.get("MacAddress") or "")
    )
    daemon.netrt.check_links(model.host_config, canonical)  # networking hook: --link
    check_name_free(daemon, canonical)  # again: the image lookup did not hold a lock
    volume_mounts = plan_volumes(
        daemon.volumes,
        container_id,
        model.host_config,
        model.config.get("Volumes") or {},
        volumes.volumes_from(daemon, model.host_config),
    )
    model.volume_mounts = [m.as_json() for m in volume_mounts]
    daemon._creating[canonical] = container_id
    persisting: asyncio.Future[None] | None = None
    try:
        # Made first: the spec, which writes its etc files in it, may be built in the
        # task's first step (the local backend has no Prepare to wait for).
        make_private_dir(directory)
        spec = daemon.specs.factory(model, image.chain_id)
        creating = asyncio.ensure_future(new_lcd(daemon, model, image, spec=spec))
        try:
            # Snapshots.Prepare is sent at the task's first step and containerd works on
            # it meanwhile: the spec is built then, and the record made durable in a
            # store thread (three fsyncs, 0.5-3 ms on a busy disk), beside both RPCs.
            # The thread starts after the build: each of its system calls takes the GIL
            # back, which a build on the loop would hold for up to a switch interval.
            await asyncio.sleep(0)
            spec.build_early()
            staged = encode_state(model)
            persisting = daemon.store.persist_new(model, staged)
        except BaseException:
            await _undo(creating)
            raise
        live = daemon._new_live(model)
        try:
            live.lcd = await creating
        except lcd_errors.LibcontainerdError as exc:
            raise errors.SystemError(str(exc)) from None
        try:
            await copy_image_content(
                daemon.volumes,
                container_id,
                volume_mounts,
                await live.lcd.rootfs_mounts(),
                daemon.config.exec_root / "rootfs",
            )
            await persisting
            daemon.store.commit(model, staged)
        except BaseException:
            with contextlib.suppress(lcd_errors.LibcontainerdError):
                await live.lcd.delete()
            raise
    except BaseException:
        if persisting is not None:
            await _settled(persisting)  # (its files are erased after it wrote them)
        daemon.store.discard_new(model)
        volumes.release(daemon, model, remove_anonymous=True)
        raise
    finally:
        del daemon._creating[canonical]
    daemon._live[container_id] = live
    daemon.netrt.container_created(container_id, canonical, model.host_config, endpoint)
    daemon.container_event(live, "create")
    return model, warnings + _warnings(daemon, model.host_config)


async def _settled(persisting: asyncio.Future[None]) -> None:
    """`persisting` done, whatever came of it; a cancellation meanwhile still waits."""
    while not persisting.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(persisting)
    with contextlib.suppress(BaseException):
        persisting.result()


async def _undo(creating: asyncio.Future[LcdContainer]) -> None:
    """What containerd made for a create that failed meanwhile goes too. The create's own
    error is the one to report, not one of the build's (a build that failed has removed
    what it made itself)."""
    with contextlib.suppress(Exception):
        await (await creating).delete()


def _name_owner(daemon: Daemon, name: str) -> str | None:
    return daemon.store.name_owner(name) or daemon._creating.get(name)


def check_name_free(daemon: Daemon, name: str) -> None:
    owner = _name_owner(daemon, name)
    if owner is not None:
        raise errors.Conflict(
            f'Conflict. The container name "{name}" is already in use by container '
            f'"{owner}". You have to remove (or rename) that container to be able to '
            "reuse that name."
        )


def _warnings(daemon: Daemon, host_config: dict[str, Any]) -> list[str]:
    mode = host_config.get("NetworkMode") or "default"
    if mode in ("default", "bridge") and not daemon.config.networking:
        return [
            "bridge networking is off (--bridge=none): the container gets its own "
            "network namespace with loopback only"
        ]
    return []


def _runtime_spec(daemon: Daemon, name: str) -> RuntimeSpec:
    runtime = daemon.runtimes.get(name)
    return RuntimeSpec(
        runtime.shim, binary=runtime.path, root=os.path.join(daemon.config.exec_root, "runc")
    )


def _runtime_config(image: Image) -> dict[str, Any]:
    """The runtime part (Env, Cmd, ...) of an image config document."""
    document = image.config
    runtime = document.get("config", document) if isinstance(document, dict) else {}
    return runtime or {}
