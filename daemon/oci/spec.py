"""The OCI runtime spec of a container, from its merged Config and normalized HostConfig.

At create the daemon calls `merge.merge_config`, `validate.validate_create` and
`hostconfig.normalize_host_config`; at start (or at create, if it can read the
rootfs then) `mounts.create_missing_bind_sources`, `etc_files.write_etc_files`
and `build_spec`. The seccomp filter comes from `seccomp` (Docker's default
unless the container is privileged or asks for another).
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .apparmor import container_profile, host_apparmor
from .capabilities import container_capabilities
from .defaults import DEFAULT_SHM_SIZE, MASKED_PATHS, READONLY_PATHS, default_spec
from .devices import ALLOW_ALL, host_devices, mapped_devices, parse_cgroup_rule
from .errors import SpecError
from .etc_files import EtcPaths
from .fields import get_bool, get_int, get_list, get_map, get_str, get_strs
from .merge import process_env
from .mounts import UserMount, plan_mounts, user_mounts
from .namespaces import NamespaceResolver, namespaces
from .resources import linux_resources
from .rootfs import FileReader
from .seccomp import container_seccomp
from .security import parse_security_opts
from .users import resolve_user

_RLIMIT_INFINITY = 2**64 - 1


def _rlimit_value(value: int) -> int:
    # Docker's int64 -1 is the kernel's RLIM_INFINITY once seen as unsigned.
    return value if value >= 0 else _RLIMIT_INFINITY


def _check_raise(name: str, hard: int, daemon_caps: frozenset[str] | None) -> None:
    """Only CAP_SYS_RESOURCE lets the runtime raise a hard limit above its own (the
    daemon's, which it inherits); without it runc fails the start with a cryptic
    "error setting rlimit type 7", so say what is wrong before."""
    if daemon_caps is None or "CAP_SYS_RESOURCE" in daemon_caps:
        return
    which = getattr(resource, "RLIMIT_" + name.upper(), None)
    if which is None:
        return
    own = resource.getrlimit(which)[1]
    if own == resource.RLIM_INFINITY or (hard != _RLIMIT_INFINITY and hard <= own):
        return
    wanted = "unlimited" if hard == _RLIMIT_INFINITY else str(hard)
    raise SpecError(
        f"ulimit {name}: the hard limit {wanted} is above the daemon's own ({own}), "
        "and the daemon lacks CAP_SYS_RESOURCE to raise it"
    )


def rlimits(
    host_config: Mapping[str, Any], daemon_caps: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """process.rlimits; SpecError for a hard limit the runtime could not set."""
    out = []
    for u in get_list(host_config, "Ulimits"):
        name, hard = get_str(u, "Name"), _rlimit_value(get_int(u, "Hard"))
        _check_raise(name, hard, daemon_caps)
        soft = _rlimit_value(get_int(u, "Soft"))
        out.append({"type": "RLIMIT_" + name.upper(), "hard": hard, "soft": soft})
    return out


def _devices(
    hc: Mapping[str, Any], privileged: bool, list_host_devices: Callable[[], list[dict[str, Any]]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(linux.devices, extra cgroup rules); rules None means "allow every device"."""
    if privileged:
        return list_host_devices(), None
    nodes: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for mapping in get_list(hc, "Devices"):
        found, found_rules = mapped_devices(mapping)
        nodes += found
        rules += found_rules
    rules += [parse_cgroup_rule(r) for r in get_strs(hc, "DeviceCgroupRules")]
    return nodes, rules


def _sysctls(config: Mapping[str, Any], hc: Mapping[str, Any]) -> dict[str, str]:
    sysctl: dict[str, str] = {}
    # The NIS domain name has no field in the spec; this sysctl sets it in the UTS namespace.
    if domainname := get_str(config, "Domainname"):
        sysctl["kernel.domainname"] = domainname
    sysctl.update({str(k): str(v) for k, v in get_map(hc, "Sysctls").items()})
    return sysctl


def build_spec(
    container_id: str,
    config: Mapping[str, Any],
    host_config: Mapping[str, Any],
    *,
    cgroup_parent: str,
    etc_paths: EtcPaths | None = None,
    daemon_caps: frozenset[str] | None = None,
    no_new_privileges: bool = False,
    read_file: FileReader | None = None,
    resolve_namespace: NamespaceResolver | None = None,
    shm_source: Callable[[], str] | None = None,
    list_host_devices: Callable[[], list[dict[str, Any]]] = host_devices,
    inherited_mounts: Sequence[UserMount] = (),
    linked_env: Sequence[str] = (),
    volume_mounts: Sequence[UserMount] = (),
) -> dict[str, Any]:
    """The runc spec for the container (`linked_env`: the variables of legacy links).

    `config` is the merged Config (`merge_config(...).config`) and `host_config`
    the normalized one. `read_file` reads the container's rootfs for user and
    group names (see `rootfs`); `daemon_caps` is `bounding_capabilities()`;
    `resolve_namespace` answers container:<id> modes; `shm_source` is the
    /dev/shm to share for IpcMode container:<id>; `no_new_privileges` is the
    daemon's default (daemon.json), which a security option overrides. `volume_mounts` are the
    container's volumes as binds of their directories (the volume service resolves them at
    create); they stand for the volume entries of Binds and Mounts and the image's VOLUMEs.
    Raises SpecError (400) and StartError (500, e.g. an unknown user).
    """
    hc = host_config
    argv = [*get_strs(config, "Entrypoint"), *get_strs(config, "Cmd")]
    if not argv:
        raise SpecError("No command specified")
    privileged = get_bool(hc, "Privileged")
    # A container made before create refused systempaths=unconfined may hold it; its
    # MaskedPaths and ReadonlyPaths were emptied then, so the option has nothing to add.
    options = [o for o in get_strs(hc, "SecurityOpt") if o != "systempaths=unconfined"]
    security = parse_security_opts(options)
    parent = get_str(hc, "CgroupParent") or cgroup_parent
    spec = default_spec(container_id, parent, argv, shm_size=0)

    process = spec["process"]
    process["terminal"] = get_bool(config, "Tty")
    process["user"] = resolve_user(get_str(config, "User"), get_strs(hc, "GroupAdd"), read_file)
    process["env"] = process_env(config, linked_env)
    process["cwd"] = get_str(config, "WorkingDir") or "/"
    caps = container_capabilities(
        get_strs(hc, "CapAdd"), get_strs(hc, "CapDrop"),
        privileged=privileged, daemon_caps=daemon_caps,
    )  # fmt: skip
    process["capabilities"] = {"bounding": caps, "effective": list(caps), "permitted": list(caps)}
    process["rlimits"] = rlimits(hc, daemon_caps)
    process["noNewPrivileges"] = (
        no_new_privileges if security.no_new_privileges is None else security.no_new_privileges
    )
    process["oomScoreAdj"] = get_int(hc, "OomScoreAdj")
    console = get_list(hc, "ConsoleSize")
    if len(console) == 2 and all(isinstance(n, int) and n > 0 for n in console):
        process["consoleSize"] = {"height": console[0], "width": console[1]}

    if get_str(hc, "UTSMode") == "host":
        del spec["hostname"]  # runc refuses a hostname without a UTS namespace of its own
    else:
        spec["hostname"] = get_str(config, "Hostname") or container_id[:12]
    spec["root"]["readonly"] = get_bool(hc, "ReadonlyRootfs")

    plan = plan_mounts(
        spec["mounts"],
        [
            m
            for m in user_mounts(hc, check_sources=False, inherited=inherited_mounts)
            if m.type != "volume"
        ]
        + list(volume_mounts),
        etc_paths=etc_paths,
        readonly_root=get_bool(hc, "ReadonlyRootfs"),
        privileged=privileged,
        ipc_mode=get_str(hc, "IpcMode") or "private",
        shm_size=get_int(hc, "ShmSize") or DEFAULT_SHM_SIZE,
        shm_source=shm_source,
    )
    spec["mounts"] = plan.mounts

    linux = spec["linux"]
    nodes, extra_rules = _devices(hc, privileged, list_host_devices)
    rules = [ALLOW_ALL] if extra_rules is None else linux["resources"]["devices"] + extra_rules
    linux["resources"] = linux_resources(hc, rules)
    if nodes:
        linux["devices"] = nodes
    linux["namespaces"] = namespaces(hc, resolve_namespace)
    if sysctl := _sysctls(config, hc):
        linux["sysctl"] = sysctl
    if plan.rootfs_propagation:
        linux["rootfsPropagation"] = plan.rootfs_propagation
    if (seccomp := container_seccomp(security.seccomp, privileged, caps)) is not None:
        linux["seccomp"] = seccomp
    if apparmor := container_profile(security.apparmor, privileged, host_apparmor()):
        process["apparmorProfile"] = apparmor
    if privileged:
        del linux["maskedPaths"], linux["readonlyPaths"]
    else:
        masked, readonly = hc.get("MaskedPaths"), hc.get("ReadonlyPaths")
        linux["maskedPaths"] = list(MASKED_PATHS if masked is None else masked)
        linux["readonlyPaths"] = list(READONLY_PATHS if readonly is None else readonly)
    if annotations := get_map(hc, "Annotations"):  # API 1.43: handed to the runtime
        spec["annotations"] = {**(spec.get("annotations") or {}), **annotations}
    return spec
