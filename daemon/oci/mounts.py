"""The container's mounts: Binds, Mounts and Tmpfs parsed, checked, and laid out for runc."""

from __future__ import annotations

import copy
import dataclasses
import errno
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import paths
from .errors import SpecError, StartError
from .etc_files import EtcPaths
from .fields import get_bool, get_map, get_str, get_strs
from .tmpfs import tmpfs_data, tmpfs_mount_options

PROPAGATIONS = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave"})
DEFAULT_PROPAGATION = "rprivate"
_RW_MODES = frozenset({"rw", "ro"})
_LABEL_MODES = frozenset({"z", "Z"})
_COPY_MODES = frozenset({"nocopy"})
# Kernel-managed mounts that stay writable under ReadonlyRootfs.
_WRITABLE_UNDER_READONLY_ROOT = frozenset({"/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"})


@dataclass(frozen=True)
class UserMount:
    """One mount the user asked for, whichever field it came from."""

    destination: str
    type: str  # "bind", "tmpfs" or "volume"
    source: str = ""  # a volume's name ("" for an anonymous one)
    writable: bool = True
    propagation: str = DEFAULT_PROPAGATION
    recursive: bool = True
    data: str = ""  # tmpfs options, as in HostConfig.Tmpfs values
    create_source: bool = False  # Binds sources are made at start when missing
    # Volumes: the Binds mode as given (dockerd shows it), and --mount's VolumeOptions.
    mode: str = ""
    volume_options: Mapping[str, Any] | None = None

    @property
    def copy_data(self) -> bool:
        """A new, empty volume gets the image's content at its destination."""
        if self.volume_options is not None:
            return not get_bool(self.volume_options, "NoCopy")
        return "nocopy" not in self.mode.split(",")

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserMount:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _invalid_spec(raw: str) -> SpecError:
    return SpecError(f"invalid volume specification: '{raw}'")


def valid_bind_mode(mode: str) -> bool:
    if not mode:
        return True
    counts = {"rw": 0, "label": 0, "propagation": 0, "copy": 0}
    for option in mode.split(","):
        if option in _RW_MODES:
            counts["rw"] += 1
        elif option in _LABEL_MODES:
            counts["label"] += 1
        elif option in PROPAGATIONS:
            counts["propagation"] += 1
        elif option in _COPY_MODES:
            counts["copy"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def bind_propagation(mode: str) -> str:
    """The propagation a Binds entry's mode ("rw,rshared") asks for; rprivate if none."""
    return next((o for o in mode.split(",") if o in PROPAGATIONS), DEFAULT_PROPAGATION)


def mount_propagation(spec: Mapping[str, Any]) -> str:
    """The propagation a bind's HostConfig.Mounts entry asks for; rprivate if none."""
    return get_str(get_map(spec, "BindOptions"), "Propagation") or DEFAULT_PROPAGATION


def parse_bind(raw: str) -> UserMount:
    """A Binds entry, "src:dst[:mode]"; dockerd's errors for the forms it rejects."""
    if raw.count(":") > 2:
        raise _invalid_spec(raw)
    parts = raw.split(":", 2)
    if not parts[0]:
        raise _invalid_spec(raw)
    mode = ""
    if len(parts) == 1:
        target, source = parts[0], ""  # an anonymous volume
    elif len(parts) == 2 and valid_bind_mode(parts[1]):
        raise _invalid_spec(raw)  # "/dst:ro" names no source
    else:
        source, target = parts[0], parts[1]
    if len(parts) == 3:
        mode = parts[2]
    if not valid_bind_mode(mode):
        raise SpecError(f"invalid mode: {mode}")
    kind = "bind" if source.startswith("/") else "volume"
    try:
        _check_target(target)
    except SpecError as exc:
        raise SpecError(
            f"invalid volume specification: '{raw}': "
            f'invalid mount config for type "{kind}": {exc}'
        ) from None
    options = mode.split(",") if mode else []
    if kind == "volume":
        return UserMount(
            destination=paths.clean(target),
            type="volume",
            source=source,
            writable="ro" not in options,
            propagation="",
            mode=mode,
        )
    return UserMount(
        destination=paths.clean(target),
        type="bind",
        source=paths.clean(source),
        writable="ro" not in options,
        propagation=bind_propagation(mode),
        create_source=True,
    )


def _check_target(target: str) -> None:
    if not target:
        raise SpecError("field Target must not be empty")
    paths.check_not_root(target)
    paths.check_absolute(target)


def _check_mount(spec: Mapping[str, Any], kind: str, check_source: bool) -> None:
    _check_target(get_str(spec, "Target"))
    source = get_str(spec, "Source")
    if kind == "bind":
        if not source:
            raise SpecError("field Source must not be empty")
        propagation = get_str(get_map(spec, "BindOptions"), "Propagation")
        if propagation and propagation not in PROPAGATIONS:
            raise SpecError(f"invalid propagation mode: {propagation}")
        if spec.get("VolumeOptions") is not None:
            raise SpecError("field VolumeOptions must not be specified")
        paths.check_absolute(source)
        create = get_bool(get_map(spec, "BindOptions"), "CreateMountpoint")  # API 1.42
        if check_source and not create and not os.path.lexists(source):
            raise SpecError(f"bind source path does not exist: {source}")
    elif kind == "tmpfs":
        if spec.get("BindOptions") is not None:
            raise SpecError("field BindOptions must not be specified")
        if source:
            raise SpecError("field Source must not be specified")
        tmpfs_data(get_map(spec, "TmpfsOptions") or None, False)  # for its errors
    elif kind == "volume":
        for field in ("BindOptions", "TmpfsOptions"):
            if spec.get(field) is not None:
                raise SpecError(f"field {field} must not be specified")
        if not source and get_bool(spec, "ReadOnly"):
            raise SpecError("must not set ReadOnly mode when using anonymous volumes")
    else:
        raise SpecError("mount type unknown")


def parse_mount(spec: Mapping[str, Any], *, check_source: bool = True) -> UserMount:
    """A HostConfig.Mounts entry. A bind's source must exist (checked at create)."""
    kind = get_str(spec, "Type")
    try:
        _check_mount(spec, kind, check_source)
    except SpecError as exc:
        raise SpecError(f'invalid mount config for type "{kind}": {exc}') from None
    target = paths.clean(get_str(spec, "Target"))
    read_only = get_bool(spec, "ReadOnly")
    if kind == "tmpfs":
        data = tmpfs_data(get_map(spec, "TmpfsOptions") or None, read_only)
        return UserMount(destination=target, type="tmpfs", writable=not read_only, data=data)
    if kind == "volume":
        return UserMount(
            destination=target,
            type="volume",
            source=get_str(spec, "Source"),
            writable=not read_only,
            propagation="",
            volume_options=get_map(spec, "VolumeOptions"),
        )
    bind_options = get_map(spec, "BindOptions")
    return UserMount(
        destination=target,
        type="bind",
        source=paths.clean(get_str(spec, "Source")),
        writable=not read_only,
        propagation=mount_propagation(spec),
        recursive=not get_bool(bind_options, "NonRecursive"),
        create_source=get_bool(bind_options, "CreateMountpoint"),
    )


def parse_tmpfs(destination: str, data: str) -> UserMount:
    """A HostConfig.Tmpfs entry ("/run": "rw,size=64m")."""
    paths.check_not_root(destination)
    paths.check_absolute(destination)
    tmpfs_mount_options(data)  # for its errors
    return UserMount(destination=paths.clean(destination), type="tmpfs", data=data)


def volumes_from(host_config: Mapping[str, Any]) -> list[str]:
    return get_strs(host_config, "VolumesFrom")


def parse_volumes_from(raw: str) -> tuple[str, str]:
    """A VolumesFrom entry, "container[:mode]": (container, mode); dockerd's errors.

    Only ro/rw (and SELinux labels) may be given: the mounts keep their source's
    propagation, and data is never copied into them."""
    if not raw:
        raise SpecError("volumes-from specification cannot be an empty string")
    name, _, mode = raw.partition(":")
    if ":" not in raw:
        return name, "rw"
    options = mode.split(",")
    if (
        not valid_bind_mode(mode)
        or any(o in PROPAGATIONS for o in options)
        or any(o in _COPY_MODES for o in options)
    ):
        raise SpecError(f"invalid mode: {mode}")
    return name, mode


def inherit_mounts(mounts: Sequence[UserMount], mode: str) -> list[UserMount]:
    """The copies VolumesFrom makes of another container's mounts: as in dockerd, a copy
    is writable only if its source is and `mode` does not say ro."""
    read_only = "ro" in mode.split(",")
    return [dataclasses.replace(m, writable=m.writable and not read_only) for m in mounts]


def mount_points(
    host_config: Mapping[str, Any], inherited: Sequence[UserMount] = ()
) -> list[UserMount]:
    """The mounts dockerd keeps as the container's mount points, the ones another
    container's VolumesFrom copies: those `inherited` from VolumesFrom, then Binds and
    Mounts (which replace an inherited one at the same destination). HostConfig.Tmpfs
    is not among them."""
    return _over(inherited, _requested(host_config, check_sources=False, with_tmpfs=False))


def user_mounts(
    host_config: Mapping[str, Any],
    *,
    check_sources: bool = True,
    inherited: Sequence[UserMount] = (),
) -> list[UserMount]:
    """Every mount the container gets: those `inherited` through VolumesFrom that its
    own do not replace, then Binds, Mounts and Tmpfs, each destination once."""
    return _over(inherited, _requested(host_config, check_sources=check_sources, with_tmpfs=True))


def _over(inherited: Sequence[UserMount], own: list[UserMount]) -> list[UserMount]:
    taken = {m.destination for m in own}
    return [m for m in inherited if m.destination not in taken] + own


def _requested(
    host_config: Mapping[str, Any], *, check_sources: bool, with_tmpfs: bool
) -> list[UserMount]:
    """The mounts the container's own HostConfig asks for, Binds then Mounts then Tmpfs;
    each destination once."""
    found: list[UserMount] = []
    taken: set[str] = set()

    def add(mount: UserMount, shown_as: str) -> None:
        if mount.destination in taken:
            raise SpecError(f"Duplicate mount point: {shown_as}")
        taken.add(mount.destination)
        found.append(mount)

    tmpfs = {
        dest: parse_tmpfs(dest, str(data or ""))
        for dest, data in get_map(host_config, "Tmpfs").items()
    }
    tmpfs_destinations = {m.destination for m in tmpfs.values()}
    for raw in get_strs(host_config, "Binds"):
        mount = parse_bind(raw)
        if mount.destination in tmpfs_destinations:
            raise SpecError(f"Duplicate mount point: {mount.destination}")
        add(mount, mount.destination)
    for spec in host_config.get("Mounts") or []:
        if not isinstance(spec, Mapping):
            raise SpecError(f"invalid value for Mounts: {spec!r}")
        add(parse_mount(spec, check_source=check_sources), get_str(spec, "Target"))
    if with_tmpfs:
        for dest, mount in tmpfs.items():
            add(mount, dest)
    return found


def create_missing_bind_sources(
    host_config: Mapping[str, Any], inherited: Sequence[UserMount] = ()
) -> list[UserMount]:
    """Binds whose host path is missing get a directory there, as dockerd does at start;
    returns the container's mounts (`user_mounts`).

    Mounts (the API's typed form) only with BindOptions.CreateMountpoint (API 1.42);
    without it their source must exist, at create and again here: one removed since
    create fails the start with create's error (400), as in dockerd 20.10.
    """
    mounts = user_mounts(host_config, check_sources=True, inherited=inherited)
    for mount in mounts:
        if not mount.create_source or os.path.lexists(mount.source):
            continue
        try:
            os.makedirs(mount.source, mode=0o755, exist_ok=True)
        except OSError as exc:
            if exc.errno != errno.ENOTDIR:
                raise StartError(
                    f"error while creating mount source path '{mount.source}': {exc}"
                ) from exc
    return mounts


def _spec_mount(mount: UserMount) -> dict[str, Any]:
    if mount.type == "tmpfs":
        return {
            "destination": mount.destination,
            "type": "tmpfs",
            "source": "tmpfs",
            # A VolumesFrom copy may be read-only where its source's options are not.
            "options": _with(tmpfs_mount_options(mount.data), "ro", not mount.writable),
        }
    options = ["rbind" if mount.recursive else "bind"]
    if not mount.writable:
        options.append("ro")
    options.append(mount.propagation)
    return {
        "destination": mount.destination,
        "type": "bind",
        "source": mount.source,
        "options": options,
    }


def _etc_mounts(etc_paths: EtcPaths | None, writable: bool) -> list[UserMount]:
    if etc_paths is None:
        return []
    pairs = (
        ("/etc/resolv.conf", etc_paths.resolv_conf),
        ("/etc/hostname", etc_paths.hostname),
        ("/etc/hosts", etc_paths.hosts),
    )
    return [
        UserMount(destination=dest, type="bind", source=source, writable=writable)
        for dest, source in pairs
        if source
    ]


def _with(options: list[str], option: str, wanted: bool) -> list[str]:
    return [*options, option] if wanted and option not in options else options


def _without(options: Sequence[str], option: str) -> list[str]:
    return [o for o in options if o != option]


def _depth(destination: str) -> int:
    # The destinations are clean already (defaults, parsed user mounts): the common case
    # skips normpath; anything else goes through `paths.depth`.
    if destination.startswith("/") and "//" not in destination and "/." not in destination:
        return destination.count("/") - destination.endswith("/")
    return paths.depth(destination)


def rootfs_propagation(mounts: Sequence[UserMount]) -> str | None:
    """A shared or slave bind needs the container's root to propagate too."""
    wanted = {m.propagation for m in mounts if m.type == "bind"}
    if wanted & {"shared", "rshared"}:
        return "shared"
    if wanted & {"slave", "rslave"}:
        return "rslave"
    return None


def _copy_mount(mount: Mapping[str, Any]) -> dict[str, Any]:
    """A copy to edit of a spec mount: its strings shared, its options (strings) in a list
    of its own, anything else deep-copied. deepcopy's generic walk of every mount was a
    third of `plan_mounts` at every create and start (issue 13)."""
    return {
        k: v if isinstance(v, str) else list(v) if k == "options" else copy.deepcopy(v)
        for k, v in mount.items()
    }


@dataclass(frozen=True)
class MountPlan:
    """What the spec needs: `mounts` in mount order, and the root's propagation, if any."""

    mounts: list[dict[str, Any]]
    rootfs_propagation: str | None


def plan_mounts(
    defaults: Sequence[Mapping[str, Any]],
    requested: Sequence[UserMount],
    *,
    etc_paths: EtcPaths | None = None,
    readonly_root: bool = False,
    privileged: bool = False,
    ipc_mode: str = "private",
    shm_size: int = 0,
    host_shm: str = "/dev/shm",
    shm_source: Callable[[], str] | None = None,
) -> MountPlan:
    """Default mounts (minus those a user mount replaces), then the user's, parents first.

    `shm_source` gives the /dev/shm to bind for IpcMode container:<id>; without it
    that container gets a /dev/shm of its own.
    """
    extra = list(requested)
    taken = {m.destination for m in extra}
    if ipc_mode == "host" and "/dev/shm" not in taken:
        extra.append(UserMount(destination="/dev/shm", type="bind", source=host_shm))
    elif ipc_mode.startswith("container:") and shm_source is not None and "/dev/shm" not in taken:
        extra.append(UserMount(destination="/dev/shm", type="bind", source=shm_source()))
    taken = {m.destination for m in extra}
    extra += [m for m in _etc_mounts(etc_paths, not readonly_root) if m.destination not in taken]
    taken = {m.destination for m in extra}

    dev_replaced = "/dev" in taken
    mounts: list[dict[str, Any]] = []
    for default in defaults:
        mount = _copy_mount(default)
        destination = mount["destination"]
        if destination in taken or (dev_replaced and destination.startswith("/dev/")):
            continue
        if destination == "/dev/shm":
            if ipc_mode == "none":
                continue
            if shm_size:
                mount["options"] = [o for o in mount["options"] if not o.startswith("size=")] + [
                    f"size={shm_size}"
                ]
        read_only = readonly_root and destination not in _WRITABLE_UNDER_READONLY_ROOT
        if read_only and "ro" not in mount["options"]:
            mount["options"].append("ro")
        if privileged and (destination == "/sys" or mount["type"] == "cgroup"):
            mount["options"] = _without(mount["options"], "ro")
        mounts.append(mount)
    mounts += [_spec_mount(m) for m in extra]
    # Stable: equal depths keep the order above, defaults first.
    mounts.sort(key=lambda m: _depth(m["destination"]))
    return MountPlan(mounts=mounts, rootfs_propagation=rootfs_propagation(extra))
