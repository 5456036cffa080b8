"""From a Docker create request to an OCI runtime spec that runc accepts.

At create: `merge_config` (inspect's Config, Path, Args), `validate_create`
(dockerd's 400s and warnings), `normalize_host_config` (inspect's HostConfig).
At start: `create_missing_bind_sources`, `write_etc_files`, `build_spec`.
Once at daemon start-up: `probe_sysinfo`, `bounding_capabilities`.
"""

from .capabilities import all_capabilities, bounding_capabilities
from .errors import NetworkNotFoundError, SpecError, StartError
from .etc_files import EtcPaths, write_etc_files
from .hostconfig import normalize_host_config
from .merge import MergedConfig, merge_config, stop_signal
from .mounts import (
    UserMount,
    bind_propagation,
    create_missing_bind_sources,
    inherit_mounts,
    mount_points,
    mount_propagation,
    parse_volumes_from,
    user_mounts,
    volumes_from,
)
from .propagation import check_bind_propagation
from .resources import linux_resources
from .rootfs import (
    FileReader,
    Layers,
    layered_reader,
    layers_for_mounts,
    overlay_layers,
    reader_for_mounts,
    rootfs_reader,
)
from .security import apparmor_enabled, info_security_options
from .spec import build_spec
from .sysinfo import SysInfo, probe_sysinfo
from .validate import validate_create, validate_resources

__all__ = [
    "EtcPaths",
    "FileReader",
    "Layers",
    "MergedConfig",
    "NetworkNotFoundError",
    "SpecError",
    "StartError",
    "SysInfo",
    "UserMount",
    "all_capabilities",
    "apparmor_enabled",
    "bind_propagation",
    "bounding_capabilities",
    "build_spec",
    "check_bind_propagation",
    "create_missing_bind_sources",
    "info_security_options",
    "inherit_mounts",
    "layered_reader",
    "layers_for_mounts",
    "linux_resources",
    "merge_config",
    "mount_points",
    "mount_propagation",
    "normalize_host_config",
    "overlay_layers",
    "parse_volumes_from",
    "probe_sysinfo",
    "reader_for_mounts",
    "rootfs_reader",
    "stop_signal",
    "user_mounts",
    "validate_create",
    "validate_resources",
    "volumes_from",
    "write_etc_files",
]
