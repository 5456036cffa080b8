"""The glue between a container's Docker config and its OCI spec (built by `daemon.oci`).

At create the request is validated and merged with the image's config (what
inspect then shows), and the spec is built from the rootfs layers, so that user
names resolve from the image's /etc/passwd without mounting anything: while
Snapshots.Prepare is in flight when the image's layers are known from an earlier
create, else once Prepare gives the mounts (`CreateSpec`).
At start the spec is built again (bind sources and etc files may have changed);
only a spec that differs costs a Containers.Update. The first start after a create skips
the build when nothing it reads changed since create's (`for_start`, `_Created`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from libcontainerd import jsonbytes, specs
from libcontainerd.types import Mount
from wire.container import ContainerCreateRequest
from wire.container_config import ContainerConfig
from wire.host_config import HostConfig

from .. import errors, oci
from ..logs.config import validate_log_config
from ..oci.defaults import DEFAULT_SHM_SIZE
from .model import Container

CGROUP_PARENT = "/moorage"
SECCOMP_OPTION = ("seccomp=", "seccomp:")  # SecurityOpt's seccomp entry, either separator


@contextmanager
def daemon_errors() -> Iterator[None]:
    """SpecError carries dockerd's status; the daemon speaks in its own error kinds."""
    try:
        yield
    except oci.SpecError as exc:
        kind: Callable[[str], errors.DaemonError] = {
            400: errors.InvalidParameter,
            404: errors.NotFound,
        }.get(exc.http_status, errors.SystemError)
        raise kind(str(exc)) from None


class NetworkView(Protocol):
    """What the spec needs of networking (daemon/network/runtime.py)."""

    def sandbox_path(self, container_id: str, host_config: Mapping[str, Any]) -> Path | None:
        """The namespace the daemon binds for the container; None: runc makes one."""

    def etc_addresses(self, container_id: str) -> tuple[str, str | None]:
        """(the container's address for /etc/hosts, the host-gateway address)."""

    def network_exists(self, ref: str) -> bool:
        """A user-defined network of that name or id exists."""

    def embedded_dns(self, container_id: str) -> bool:
        """The container is served by the embedded DNS server (it is on a user network)."""

    def legacy_links(self, host_config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """(ExtraHosts-style entries, environment variables) of the container's --links."""


def join_network_namespace(spec: dict[str, Any], path: str) -> None:
    for namespace in spec.get("linux", {}).get("namespaces", []):
        if namespace.get("type") == "network":
            namespace["path"] = path


@dataclass(frozen=True)
class ContainerDefaults:
    """The daemon's defaults for what a container leaves unset (dockerd's daemon options
    log-driver, log-opts, default-shm-size, default-ulimits, seccomp-profile, dns*)."""

    log_driver: str = ""  # "": the logs package's default (json-file)
    log_opts: Mapping[str, str] = field(default_factory=dict)
    shm_size: int = DEFAULT_SHM_SIZE
    ulimits: Sequence[Mapping[str, Any]] = ()  # HostConfig.Ulimits entries
    seccomp: str = ""  # "": the default profile; "unconfined" or a profile's JSON
    dns: Sequence[str] = ()
    dns_search: Sequence[str] = ()
    dns_options: Sequence[str] = ()

    def log_config(self, log_config: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        """(driver, options) of a container's LogConfig: with no driver named, the daemon's
        and its options; the daemon's options under the container's own for that driver."""
        driver = str(log_config.get("Type") or self.log_driver)
        options = dict(log_config.get("Config") or {})
        if driver == (self.log_driver or driver):
            options = {**self.log_opts, **options}
        return driver, options

    def for_spec(self, host_config: Mapping[str, Any]) -> Mapping[str, Any]:
        """`host_config` with the daemon's defaults where the container has none (for the
        spec and etc files only: inspect shows the container's own, as dockerd's)."""
        hc = dict(host_config)
        for key, value in (
            ("Dns", self.dns),
            ("DnsSearch", self.dns_search),
            ("DnsOptions", self.dns_options),
        ):
            if value and not hc.get(key):
                hc[key] = list(value)
        if self.ulimits:
            own = {str(u.get("Name")) for u in hc.get("Ulimits") or []}
            extra = [dict(u) for u in self.ulimits if u.get("Name") not in own]
            hc["Ulimits"] = [*(hc.get("Ulimits") or []), *extra]
        options = [str(o) for o in hc.get("SecurityOpt") or []]
        if self.seccomp and not any(o.startswith(("seccomp=", "seccomp:")) for o in options):
            hc["SecurityOpt"] = [*options, f"seccomp={self.seccomp}"]
        return hc


class ContainerSpecs:
    def __init__(
        self,
        cgroup_parent: str = CGROUP_PARENT,
        *,
        no_new_privileges: bool = False,
        defaults: ContainerDefaults | None = None,
    ) -> None:
        self.no_new_privileges = no_new_privileges  # daemon.json's default for every container
        self.defaults = defaults or ContainerDefaults()
        self.sysinfo = oci.probe_sysinfo()
        self.capabilities = oci.bounding_capabilities()
        self.cgroup_parent = cgroup_parent
        self.network: NetworkView | None = None  # set by the daemon when networking is on
        # The container's volumes as binds of their directories (set by the daemon).
        self.volume_binds: Callable[[Container], list[oci.UserMount]] = lambda _: []
        self._created: dict[str, _Created] = {}  # by container id: see for_start
        # By snapshot parent (an image's chain id): its layers as the last Prepare on it
        # showed them, topmost first (see CreateSpec).
        self._lowers: dict[str, tuple[str, ...]] = {}

    def prepare_create(
        self,
        container: Container,
        image_config: Mapping[str, Any],
        request: ContainerCreateRequest,
    ) -> list[str]:
        """Validate `request` and fill the container's Config, HostConfig, Path and Args
        (given as `request.parts()`); warnings."""
        body = {**container.config, "HostConfig": container.host_config}
        with daemon_errors():
            known = self.network.network_exists if self.network else None
            warnings = oci.validate_create(
                request, self.sysinfo, known, host_config_json=container.host_config
            )
            merged = oci.merge_config(body, image_config, container_id=container.id)
            host_config = oci.normalize_host_config(
                container.host_config, self.sysinfo, shm_size=self.defaults.shm_size
            )
        # Stored (and shown by inspect) in the wire shape: all fields, in dockerd's order.
        container.config = ContainerConfig.encode(merged.config)
        container.path, container.args = merged.path, merged.args
        host_config["Runtime"] = container.host_config.get("Runtime", "")
        # As dockerd, inspect names the driver even when the client left it to the daemon
        # (the docker SDK reads it to decide whether run() can return the output).
        driver, options = self.defaults.log_config(host_config.get("LogConfig") or {})
        driver = validate_log_config(driver, options)
        host_config["LogConfig"] = {"Type": driver, "Config": options}
        container.host_config = HostConfig.encode(host_config)
        return warnings

    def inherit_mounts(self, container: Container, lookup: Callable[[str], Container]) -> None:
        """Resolve HostConfig.VolumesFrom into the container's inherited mounts.

        As in dockerd, this happens once, at create: the copies are taken from the
        source containers' mount points as they are now (their own VolumesFrom copies
        included), and later entries replace earlier ones at the same destination.
        A source that does not exist is dockerd's 400 "No such container". Unlike
        dockerd 20.10, a source's tmpfs mount (from Mounts) is copied too (as issue 7
        asks): dockerd looks a mount without a source up as a named volume and fails
        with 404 "get: no such volume"."""
        inherited: dict[str, oci.UserMount] = {}
        for raw in oci.volumes_from(container.host_config):
            with daemon_errors():
                ref, mode = oci.parse_volumes_from(raw)
            try:
                source = lookup(ref)
            except errors.NotFound as exc:
                raise errors.InvalidParameter(str(exc)) from None
            points = oci.mount_points(source.host_config, inherited_of(source))
            for mount in oci.inherit_mounts(points, mode):
                inherited[mount.destination] = mount
        container.inherited_mounts = [m.as_json() for m in inherited.values()]

    def _inputs(
        self, container: Container, mounts: Sequence[Mount], *, new: bool = False
    ) -> _Inputs:
        """What a build takes beside the container: network values, the etc files
        (written here; `new`: create's, into its new directory), the rootfs reader."""
        return self._inputs_on(container, oci.layers_for_mounts(mounts) if mounts else None, new)

    def _inputs_on(self, container: Container, layers: oci.Layers | None, new: bool) -> _Inputs:
        network = self.network
        ip, gateway_ip = network.etc_addresses(container.id) if network else ("", None)
        linked_hosts, linked_env = (
            network.legacy_links(container.host_config) if network else ([], [])
        )
        host_config = self.defaults.for_spec(container.host_config)
        if linked_hosts:
            extra_hosts = [*(host_config.get("ExtraHosts") or []), *linked_hosts]
            host_config = {**host_config, "ExtraHosts": extra_hosts}
        etc = oci.write_etc_files(
            container.directory,
            container.config,
            host_config,
            ip=ip,
            host_gateway_ip=gateway_ip,
            embedded_dns=network.embedded_dns(container.id) if network else False,
            new=new,
        )
        # Networking hook: the namespace the daemon makes (the same path at every start).
        sandbox = network.sandbox_path(container.id, container.host_config) if network else None
        return _Inputs(
            host_config=host_config,
            etc=etc,
            linked_env=linked_env,
            sandbox=str(sandbox) if sandbox is not None else None,
            layers=layers,
        )

    def _build(self, container: Container, mounts: Sequence[Mount]) -> dict[str, Any]:
        return self._spec(container, self._inputs(container, mounts))

    def _spec(self, container: Container, inputs: _Inputs) -> dict[str, Any]:
        spec = oci.build_spec(
            container.id,
            container.config,
            inputs.host_config,
            cgroup_parent=self.cgroup_parent,
            etc_paths=inputs.etc,
            daemon_caps=self.capabilities,
            no_new_privileges=self.no_new_privileges,
            read_file=inputs.layers.read if inputs.layers is not None else None,
            inherited_mounts=inherited_of(container),
            linked_env=inputs.linked_env,
            volume_mounts=self.volume_binds(container),
        )
        if inputs.sandbox is not None:
            join_network_namespace(spec, inputs.sandbox)
        return spec

    def _fingerprint(self, container: Container, inputs: _Inputs) -> bytes | None:
        """The digest of everything `_spec` reads but the rootfs (see `_Created`); None
        for a container whose spec also reads the host's devices."""
        hc = inputs.host_config
        if hc.get("Privileged") or hc.get("Devices"):
            return None
        encoded = jsonbytes.dumps(
            [
                container.id,
                container.config,
                hc,
                container.inherited_mounts,
                [m.as_json() for m in self.volume_binds(container)],
                inputs.linked_env,
                inputs.sandbox,
                [inputs.etc.hostname, inputs.etc.hosts, inputs.etc.resolv_conf],
                inputs.layers.layers if inputs.layers is not None else None,
                self.cgroup_parent,
                self.no_new_privileges,
            ]
        )
        return specs.digest(encoded)

    def factory(self, container: Container, parent: str = "") -> CreateSpec:
        """The spec builder for create of `container` on the snapshot `parent` (the
        image's chain id, "" for none)."""
        return CreateSpec(self, container, parent)

    def _create_build(self, container: Container, mounts: Sequence[Mount]) -> dict[str, Any]:
        """Create's build. A user or a GroupAdd group that does not resolve, or a seccomp
        profile that does not decode, is dockerd's start error, not a create error, so
        create then stores a spec without them."""
        with daemon_errors():
            try:
                inputs = self._inputs(container, mounts, new=True)
                spec = self._spec(container, inputs)
                self._remember(container, inputs)
                return spec
            except oci.StartError:
                config = dict(container.config, User="")
                options = container.host_config.get("SecurityOpt") or []
                host_config = dict(
                    container.host_config,
                    GroupAdd=None,
                    SecurityOpt=[o for o in options if not o.startswith(SECCOMP_OPTION)],
                )
                shadow = Container(
                    **{**container.__dict__, "config": config, "host_config": host_config}
                )
                return self._build(shadow, mounts)

    def _learn_layers(
        self, parent: str, mounts: Sequence[Mount]
    ) -> tuple[str, tuple[str, ...]] | None:
        """(upper directory, lower layers) of the overlay `mounts` of a snapshot on
        `parent`; the lower layers are kept as `parent`'s for the next create's early
        build (see CreateSpec)."""
        found = oci.overlay_layers(mounts)
        if not parent or found is None:
            return None
        lowers = found[1]
        if self._lowers.get(parent) != lowers:
            if len(self._lowers) >= _LOWERS_LIMIT and parent not in self._lowers:
                del self._lowers[next(iter(self._lowers))]
            self._lowers[parent] = lowers
        return found

    def for_start(self, container: Container, mounts: Sequence[Mount]) -> dict[str, Any] | None:
        """The spec to start `container` with; None when it is the one its create built
        (and containerd holds) without building it again: the first start after a create
        in this daemon, nothing it is built from changed (issue 13: the build and its
        digest were the largest piece of a start's own CPU)."""
        with daemon_errors():
            hc = container.host_config
            # Only a container with mounts of its own has bind sources to make or check.
            if hc.get("Binds") or hc.get("Mounts") or hc.get("Tmpfs") or container.inherited_mounts:
                oci.check_bind_propagation(
                    oci.create_missing_bind_sources(hc, inherited_of(container))
                )
            inputs = self._inputs(container, mounts)  # the etc files are written again
            created = self._created.pop(container.id, None)
            if created is not None and created.holds(self._fingerprint(container, inputs)):
                return None
            return self._spec(container, inputs)

    def _remember(self, container: Container, inputs: _Inputs) -> None:
        fingerprint = self._fingerprint(container, inputs)
        if fingerprint is None or inputs.layers is None:
            return
        if len(self._created) >= _CREATED_LIMIT:  # created and never started: the oldest
            del self._created[next(iter(self._created))]
        self._created[container.id] = _Created(fingerprint, _stats(inputs.layers.seen()))


class CreateSpec:
    """Create's spec builder: called with the rootfs mounts once Snapshots.Prepare
    answered. `build_early`, called while Prepare is in flight, builds the spec before
    that from the layers the last Prepare on the same parent showed (a new snapshot's
    upper directory is empty, so the merged view is theirs); the call then keeps that
    spec if the mounts show the same layers under an upper directory that holds none
    of the paths the build looked at, and builds it again otherwise. The build (~0.6
    ms: the etc files, /etc/passwd and /etc/group, the seccomp profile) then no longer
    waits for Prepare, nor Containers.Create for it (issue 13)."""

    def __init__(self, specs: ContainerSpecs, container: Container, parent: str) -> None:
        self._specs = specs
        self._container = container
        self._parent = parent
        self._early: tuple[dict[str, Any], _Inputs] | None = None
        self._called = False

    def build_early(self) -> None:
        lowers = self._specs._lowers.get(self._parent) if self._parent else None
        if lowers is None or self._called:  # (the local backend builds at once)
            return
        specs, container = self._specs, self._container
        try:
            inputs = specs._inputs_on(container, oci.Layers(lowers), new=True)
            self._early = specs._spec(container, inputs), inputs
        except Exception:
            # Whatever failed, the build after Prepare's answer meets it again and says it.
            self._early = None

    def __call__(self, mounts: Sequence[Mount]) -> dict[str, Any]:
        self._called = True
        early, self._early = self._early, None
        found = self._specs._learn_layers(self._parent, mounts)
        if early is not None and found is not None:
            spec, inputs = early
            upper, lowers = found
            built_on = inputs.layers
            if built_on is not None and built_on.layers == list(lowers):
                layers = built_on.beneath(upper)
                if layers is not None:
                    self._specs._remember(self._container, replace(inputs, layers=layers))
                    return spec
        return self._specs._create_build(self._container, mounts)


def inherited_of(container: Container) -> list[oci.UserMount]:
    """The mounts `container` took from others through VolumesFrom."""
    return [oci.UserMount.from_json(m) for m in container.inherited_mounts]


# Create's fingerprints kept for the first start; a container created and removed without
# a start leaves its entry until this many newer ones push it out (~0.2 kB each).
_CREATED_LIMIT = 1024
# Images whose layers are kept for the early build (a path tuple each).
_LOWERS_LIMIT = 256

_Stat = tuple[int, int, int, int, int, int] | None


@dataclass(frozen=True)
class _Inputs:
    host_config: Mapping[str, Any]
    etc: oci.EtcPaths
    linked_env: list[str]
    sandbox: str | None
    layers: oci.Layers | None


@dataclass(frozen=True)
class _Created:
    """What create built a spec from: the fingerprint of the container's and daemon's
    inputs, and the rootfs entries the build looked at (a user or group name looked up
    in /etc/passwd and /etc/group) with their lstat then. A `docker cp` into the
    container before its start changes one of those (a new file in the snapshot's upper
    directory, or a file's ctime)."""

    fingerprint: bytes
    rootfs: tuple[tuple[str, _Stat], ...]

    def holds(self, fingerprint: bytes | None) -> bool:
        if fingerprint != self.fingerprint:
            return False
        return all(_stat(_lstat(path)) == seen for path, seen in self.rootfs)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _stat(st: os.stat_result | None) -> _Stat:
    if st is None:
        return None
    return (st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _stats(seen: Mapping[str, os.stat_result | None]) -> tuple[tuple[str, _Stat], ...]:
    return tuple((path, _stat(st)) for path, st in seen.items())
