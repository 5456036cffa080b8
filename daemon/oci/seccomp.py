"""Seccomp filters for the OCI spec's `linux.seccomp`.

The default profile is moorage's own data file, `seccomp_default.json` (groups
of syscalls by purpose, see its "about"), expanded for the container's
capabilities, the machine and the kernel. A custom profile comes in Docker's
JSON format (the CLI sends the file's content as `seccomp=<json>`) and is
expanded by the same rules Docker applies: `includes`/`excludes` on
capabilities, architectures and kernel version.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from .errors import StartError
from .seccomp_profile import decode_profile

_DATA_FILE = Path(__file__).with_name("seccomp_default.json")

ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"

# The namespace-making clone flags, from linux/sched.h.
_CLONE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}

# uname -m -> the architecture names Docker's profiles use in includes/excludes (Go's).
_GO_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}
# uname -m -> libseccomp's name of the native architecture.
_NATIVE_SCMP = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}


@functools.cache
def host_kernel() -> tuple[int, int]:
    """(major, minor) of the running kernel: asked once (it was two uname calls and a
    regex at each spec build, issue 13), as it cannot change while the daemon runs."""
    return parse_kernel(os.uname().release)


@functools.cache
def host_machine() -> str:
    """`uname -m`, asked once."""
    return os.uname().machine


def parse_kernel(release: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", release)
    if not match:
        raise ValueError(f"unrecognised kernel version {release!r}")
    return int(match.group(1)), int(match.group(2))


@functools.cache
def _default_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_DATA_FILE.read_text())
    return data


def _errno(name: str) -> int:
    value = getattr(errno, name, None)
    if not isinstance(value, int):
        raise ValueError(f"unknown errno {name!r} in {_DATA_FILE.name}")
    return value


def _arg0_rules(arg0: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    """The argument lists, one per OCI rule (a rule's arguments all must hold)."""
    if "any_of" in arg0:
        return [[{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}] for v in arg0["any_of"]]
    if "no_flags" in arg0:
        mask = 0
        for flag in arg0["no_flags"]:
            mask |= _CLONE_FLAGS[flag]
        # MASKED_EQ: (arg & value) == valueTwo.
        return [[{"index": 0, "value": mask, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]]
    raise ValueError(f"unknown arg0 condition {sorted(arg0)}")


def _group_applies(
    group: Mapping[str, Any], caps: Collection[str], machine: str, kernel: tuple[int, int]
) -> bool:
    if (cap := group.get("with_capability")) and cap not in caps:
        return False
    if (cap := group.get("without_capability")) and cap in caps:
        return False
    if (machines := group.get("machines")) and machine not in machines:
        return False
    if min_kernel := group.get("min_kernel"):
        return kernel >= parse_kernel(min_kernel)
    return True


def default_profile(
    caps: Collection[str],
    *,
    machine: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The default profile as OCI `linux.seccomp`, for a container whose bounding set is `caps`.

    One object for every container with the same bounding set: never change it in place.
    Built afresh, it was the largest part of each container's spec kept in memory and
    recomputed at every create and start (issue 13)."""
    return _default_profile(frozenset(caps), machine or host_machine(), kernel or host_kernel())


@functools.lru_cache(maxsize=32)
def _default_profile(caps: frozenset[str], machine: str, kernel: tuple[int, int]) -> dict[str, Any]:
    data = _default_data()
    syscalls: list[dict[str, Any]] = []
    for group in data["groups"]:
        if not _group_applies(group, caps, machine, kernel):
            continue
        action = group.get("action", "allow")
        base: dict[str, Any] = {"names": list(group["syscalls"])}
        if action == "allow":
            base["action"] = ALLOW
        else:
            kind, _, name = action.partition(":")
            if kind != "errno":
                raise ValueError(f"unknown action {action!r} in {_DATA_FILE.name}")
            base.update(action=ERRNO, errnoRet=_errno(name))
        if "arg0" in group:
            syscalls += [{**base, "args": args} for args in _arg0_rules(group["arg0"])]
        else:
            syscalls.append(base)
    return {
        "defaultAction": ERRNO,
        "defaultErrnoRet": _errno(data["default_errno"]),
        "architectures": list(data["architectures"].get(machine, [])),
        "syscalls": syscalls,
    }


def _docker_rule_applies(
    rule: Mapping[str, Any], caps: Collection[str], arch: str, kernel: tuple[int, int]
) -> bool:
    """dockerd's filters, in its order: excludes, then includes."""
    includes = rule.get("includes") or {}
    excludes = rule.get("excludes") or {}
    if arch in (excludes.get("arches") or []):
        return False
    if any(cap in caps for cap in excludes.get("caps") or []):
        return False
    if (min_kernel := excludes.get("minKernel")) and kernel >= parse_kernel(min_kernel):
        return False
    if (arches := includes.get("arches")) and arch not in arches:
        return False
    if not all(cap in caps for cap in includes.get("caps") or []):
        return False
    return not ((min_kernel := includes.get("minKernel")) and kernel < parse_kernel(min_kernel))


def _oci_arg(arg: Mapping[str, Any]) -> dict[str, Any]:
    """An argument condition as the OCI spec holds it (valueTwo only when set)."""
    out: dict[str, Any] = {"index": arg.get("index") or 0, "value": arg.get("value") or 0}
    if arg.get("valueTwo"):
        out["valueTwo"] = arg["valueTwo"]
    out["op"] = arg.get("op") or ""
    return out


def docker_profile(
    text: str,
    caps: Collection[str],
    *,
    machine: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any] | None:
    """A Docker-format profile expanded to OCI `linux.seccomp` for this container and
    machine, as dockerd 20.10 does it at start: None (unconfined) when it has neither a
    default action nor rules; an action left out stays empty (runc then refuses it)."""
    machine = machine or host_machine()
    kernel = kernel or host_kernel()
    profile = decode_profile(text)
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    if profile.get("architectures") and profile.get("archMap"):
        raise StartError(
            "'architectures' and 'archMap' were specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    arch = _GO_ARCHES.get(machine, machine)
    architectures = list(profile.get("architectures") or [])
    native = _NATIVE_SCMP.get(machine)
    for mapping in profile.get("archMap") or []:
        if mapping and mapping.get("architecture") == native:
            architectures = [native, *(mapping.get("subArchitectures") or [])]
            break
    out: dict[str, Any] = {
        "defaultAction": profile.get("defaultAction") or "",
        "architectures": architectures,
        "syscalls": [],
    }
    for rule in profile.get("syscalls") or []:
        if rule is None or not _docker_rule_applies(rule, caps, arch, kernel):
            continue  # (a null rule: dockerd 20.10's start fails on it with no answer)
        if rule.get("name") and rule.get("names"):
            raise StartError(
                "'name' and 'names' were specified in the seccomp profile, "
                "use either 'name' or 'names'"
            )
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        entry: dict[str, Any] = {"names": list(names), "action": rule.get("action") or ""}
        if rule.get("errnoRet") is not None:
            entry["errnoRet"] = rule["errnoRet"]
        if args := [arg for arg in rule.get("args") or [] if arg is not None]:
            entry["args"] = [_oci_arg(arg) for arg in args]
        out["syscalls"].append(entry)
    return out


def container_seccomp(
    option: str, privileged: bool, caps: Collection[str]
) -> dict[str, Any] | None:
    """`linux.seccomp` for a container: None when it runs unconfined.

    `option` is the value of its `seccomp=` security option ("" for the default).
    As with dockerd, privileged containers run unconfined whatever the option.
    """
    if option == "unconfined" or privileged:
        return None
    if option:
        return docker_profile(option, caps)  # StartError (500) if it does not decode
    return default_profile(caps)
