"""Device nodes and device cgroup rules: HostConfig.Devices, DeviceCgroupRules, privileged."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from typing import Any

from .errors import SpecError, StartError
from .fields import get_str

_RULE = re.compile(r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})")
# Directories under /dev that hold no device a container should copy (runc's list).
_SKIPPED_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})
ALLOW_ALL: dict[str, Any] = {"allow": True, "access": "rwm"}


def device_from_path(path: str, permissions: str = "rwm") -> dict[str, Any] | None:
    """The spec's LinuxDevice for a character or block device at `path`; None otherwise."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return {
        "path": path,
        "type": kind,
        "major": os.major(st.st_rdev),
        "minor": os.minor(st.st_rdev),
        "fileMode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "_permissions": permissions,
    }


def cgroup_rule(device: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "allow": True,
        "type": device["type"],
        "major": device["major"],
        "minor": device["minor"],
        "access": device.get("_permissions") or "rwm",
    }


def spec_device(device: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in device.items() if not k.startswith("_")}


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every device node under /dev: what a privileged container gets."""
    found: list[dict[str, Any]] = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return found
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            if entry.name not in _SKIPPED_DIRS:
                found += host_devices(entry.path)
            continue
        if entry.name == "console":  # runc sets up the container's own console
            continue
        device = device_from_path(entry.path)
        if device is not None:
            found.append(spec_device(device))
    return found


def mapped_devices(mapping: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One HostConfig.Devices entry: its nodes (a directory maps every device below it)
    and their cgroup rules. dockerd fails the start when nothing is found (500)."""
    on_host = get_str(mapping, "PathOnHost")
    in_container = get_str(mapping, "PathInContainer") or on_host
    permissions = get_str(mapping, "CgroupPermissions") or "rwm"
    resolved = os.path.realpath(on_host) if os.path.islink(on_host) else on_host
    found: list[dict[str, Any]] = []
    device = device_from_path(resolved, permissions)
    if device is not None:
        found.append({**device, "path": in_container})
    elif os.path.isdir(resolved):
        for directory, _, files in os.walk(resolved):
            for name in sorted(files):
                child = device_from_path(os.path.join(directory, name), permissions)
                if child is not None:
                    child["path"] = child["path"].replace(resolved, in_container, 1)
                    found.append(child)
    if not found:
        raise StartError(
            f'error gathering device information while adding custom device "{on_host}": '
            "not a device node"
        )
    return [spec_device(d) for d in found], [cgroup_rule(d) for d in found]


def parse_cgroup_rule(rule: str) -> dict[str, Any]:
    """A rule such as "c 1:3 rwm" as an allow rule; "*" becomes -1, which runc reads as any."""
    match = _RULE.fullmatch(rule)
    if match is None:
        raise SpecError(f"invalid device cgroup rule format: '{rule}'")
    kind, major, minor, access = match.groups()
    return {
        "allow": True,
        "type": kind,
        "major": -1 if major == "*" else int(major),
        "minor": -1 if minor == "*" else int(minor),
        "access": access,
    }
