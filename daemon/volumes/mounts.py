"""A container's volumes: resolved at create from its Binds and Mounts (named and
anonymous volumes) and its Config.Volumes (the image's VOLUMEs and `-v /path`), as
dockerd does; kept in the container's record as `VolumeMount`s.

A new, empty volume gets the image's content at its destination copied in (with the
directory's owner and mode) unless the mount says nocopy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from libcontainerd.types import Mount, MountLike
from wire.container import MountPoint

from .. import errors, oci
from ..containerfs import scope
from ..containerfs.mounts import mount_all, unmount
from ..layers import read_only_rootfs
from ..oci import paths
from .service import VolumeService


@dataclass(frozen=True)
class VolumeMount:
    name: str
    destination: str
    rw: bool = True
    # As inspect shows it: for a Binds or Mounts volume its mode ("z" if none, as
    # dockerd 20.10 gives every local volume the user asked for), else "".
    mode: str = ""
    named: bool = False  # the user named it: `docker rm -v` keeps it
    copy_data: bool = True
    source: str = ""  # the volume's directory
    driver: str = "local"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VolumeMount:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def mounts_of(records: Sequence[Mapping[str, Any]]) -> list[VolumeMount]:
    return [VolumeMount.from_json(r) for r in records]


def inherited_volumes(records: Sequence[Mapping[str, Any]], mode: str) -> list[VolumeMount]:
    """The volume mounts VolumesFrom copies from a container (its `volume_mounts`): the same
    volumes, read-only if `mode` says ro, never copied into, shown without a mode."""
    read_only = "ro" in mode.split(",")
    return [
        replace(m, rw=m.rw and not read_only, mode="", copy_data=False) for m in mounts_of(records)
    ]


def _driver_of(request: oci.UserMount, host_config: Mapping[str, Any]) -> str:
    config = (request.volume_options or {}).get("DriverConfig") or {}
    return str(config.get("Name") or host_config.get("VolumeDriver") or "")


def _volume_of(
    service: VolumeService, request: oci.UserMount, host_config: Mapping[str, Any]
) -> tuple[str, bool]:
    """(the volume's name, whether it was made now) for a volume mount request."""
    options = request.volume_options or {}
    driver_config = options.get("DriverConfig") or {}
    name = request.source
    made = not (name and service.exists(name))
    record = service.create(
        name,
        _driver_of(request, host_config),
        driver_config.get("Options") if made else None,
        options.get("Labels") if made else None,
        anonymous=not name,
    )
    return record.name, made


def plan_volumes(
    service: VolumeService,
    container_id: str,
    host_config: Mapping[str, Any],
    config_volumes: Mapping[str, Any],
    inherited: Sequence[VolumeMount] = (),
) -> list[VolumeMount]:
    """Create (or find) every volume the container asks for and take a reference on each.
    On an error, the volumes made here are removed again and nothing stays referenced."""
    made: list[str] = []
    planned: list[VolumeMount] = []
    try:
        with _spec_errors():
            requested = oci.user_mounts(host_config, check_sources=False)
        taken = {m.destination for m in requested}
        for mount in inherited:
            if mount.destination not in taken:
                planned.append(mount)
                taken.add(mount.destination)
        for request in requested:
            if request.type != "volume":
                continue
            name, new = _volume_of(service, request, host_config)
            if new:
                made.append(name)
            planned.append(
                VolumeMount(
                    name=name,
                    destination=request.destination,
                    rw=request.writable,
                    mode=request.mode or "z",
                    named=bool(request.source),
                    copy_data=request.copy_data,
                    source=service.mountpoint(name),
                )
            )
        for destination in sorted(config_volumes):
            target = paths.clean(destination)
            if target in taken:
                continue
            record = service.create(anonymous=True)
            made.append(record.name)
            planned.append(
                VolumeMount(
                    name=record.name, destination=target, source=service.mountpoint(record.name)
                )
            )
            taken.add(target)
        for mount in planned:
            service.add_ref(mount.name, container_id)
    except BaseException:
        service.drop_refs(container_id)
        for name in made:
            with contextlib.suppress(errors.DaemonError):
                service.remove(name, force=True)
        raise
    return planned


@contextlib.contextmanager
def _spec_errors() -> Any:
    try:
        yield
    except oci.SpecError as exc:
        raise errors.InvalidParameter(str(exc)) from None


def as_binds(service: VolumeService, mounts: Sequence[VolumeMount]) -> list[oci.UserMount]:
    """The volumes as the spec mounts them: binds of their directories."""
    return [
        oci.UserMount(
            destination=m.destination,
            type="bind",
            source=service.mountpoint(m.name),
            writable=m.rw,
        )
        for m in mounts
    ]


def mount_point(mount: VolumeMount) -> MountPoint:
    """The volume as inspect's Mounts shows it."""
    return {
        "Type": "volume",
        "Name": mount.name,
        "Source": mount.source,
        "Destination": mount.destination,
        "Driver": mount.driver,
        "Mode": mount.mode,
        "RW": mount.rw,
        "Propagation": "",
    }


def bind_volumes(root_fd: int, mounts: Sequence[VolumeMount]) -> list[str]:
    """Bind each volume's directory at its destination under the root open at `root_fd`
    (a stopped container's rootfs, mounted for `docker cp`), parents first. A missing
    destination is made (as runc makes it at start; a container never started has none
    yet); where it is no directory, nothing. The paths to unmount, last first.
    Blocking: run it in a thread."""
    done: list[str] = []
    try:
        for mount in sorted(mounts, key=lambda m: paths.depth(m.destination)):
            try:
                fd = scope.open_dir(root_fd, mount.destination, create=True)
            except OSError:
                continue
            try:
                # Resolved in scope; the path is then safe to mount on: the rootfs is a
                # stopped container's, mounted privately, and held under its lock.
                target = os.readlink(f"/proc/self/fd/{fd}")
                options = ("rbind",) if mount.rw else ("rbind", "ro")
                mount_all([Mount("bind", mount.source, options)], target)
                done.append(target)
            finally:
                os.close(fd)
    except BaseException:
        unbind_volumes(done[::-1])
        raise
    return done[::-1]


def unbind_volumes(targets: Sequence[str]) -> None:
    for target in targets:
        unmount(target)


# -- copy-up -------------------------------------------------------------------------------


def _open_image_dir(root_fd: int, destination: str) -> int | None:
    """The image's directory at `destination`; None when it is missing or no directory."""
    try:
        return scope.open_dir(root_fd, destination)
    except OSError:
        return None


def _copy_tree(fd: int, destination: str, target: str) -> None:
    """The tree open at `fd` into `target` (the volume), with the owner and mode of the
    directory, if the volume is empty (a volume that has content keeps it)."""
    if os.listdir(target):
        return
    result = subprocess.run(
        ["cp", "-a", "--", f"/proc/self/fd/{fd}/.", target],
        pass_fds=(fd,),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise errors.SystemError(
            f"copying the image's {destination} into the volume: {result.stderr.strip()}"
        )
    st = os.fstat(fd)
    os.chown(target, st.st_uid, st.st_gid)
    os.chmod(target, st.st_mode & 0o7777)


async def copy_image_content(
    service: VolumeService,
    container_id: str,
    mounts: Sequence[VolumeMount],
    rootfs: Sequence[MountLike],
    base: Path,
) -> None:
    """dockerd's copy-up at create: each volume mount that copies, where the image has a
    directory, gets the image's content there if the volume is empty. The rootfs is
    mounted read-only on a private directory under `base` for the length of the copy;
    a volume with DriverOpts is mounted only if there is something to copy."""
    wanted = [m for m in mounts if m.copy_data]
    if not wanted or not rootfs:
        return
    holder = f"copyup-{container_id}"
    purpose = "copy image content into volumes"
    async with read_only_rootfs(rootfs, base, container_id, purpose) as root_fd:
        try:
            for mount in wanted:
                fd = await asyncio.to_thread(_open_image_dir, root_fd, mount.destination)
                if fd is None:
                    continue
                try:
                    target = await service.mount(mount.name, holder)
                    try:
                        await asyncio.to_thread(_copy_tree, fd, mount.destination, target)
                    finally:
                        await service.unmount(mount.name, holder)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise errors.SystemError(f"cannot {purpose}: {exc}") from None
