"""tmpfs mount options, merged and checked the way dockerd does before handing them to runc."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import SpecError
from .fields import get_int

# Options that set or clear one mount flag; a later one of the same group wins.
_FLAG_GROUPS: dict[str, str] = {
    "ro": "rdonly", "rw": "rdonly",
    "suid": "nosuid", "nosuid": "nosuid",
    "dev": "nodev", "nodev": "nodev",
    "exec": "noexec", "noexec": "noexec",
    "sync": "sync", "async": "sync",
    "dirsync": "dirsync",
    "remount": "remount",
    "mand": "mand", "nomand": "mand",
    "atime": "noatime", "noatime": "noatime",
    "diratime": "nodiratime", "nodiratime": "nodiratime",
    "relatime": "relatime", "norelatime": "relatime",
    "strictatime": "strictatime", "nostrictatime": "strictatime",
    "bind": "bind",
    # A mount has one propagation; rbind shares its key because it carries MS_REC.
    "rbind": "propagation",
    "unbindable": "propagation", "runbindable": "propagation",
    "private": "propagation", "rprivate": "propagation",
    "shared": "propagation", "rshared": "propagation",
    "slave": "propagation", "rslave": "propagation",
}  # fmt: skip
_DATA_KEYS = frozenset({"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})
# What every tmpfs a user asks for starts from; the user's options may override.
TMPFS_BASE_OPTIONS = ("noexec", "nosuid", "nodev", "rprivate")


def _go_quoted_list(items: list[str]) -> str:
    quoted = ['"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items]
    return "[" + " ".join(quoted) + "]"


def merge_tmpfs_options(options: list[str]) -> list[str]:
    """Drop duplicates, keeping the last of each flag group or data key, in order."""
    seen_flags: set[str] = set()
    seen_data: set[str] = set()
    merged: list[str] = []
    for option in reversed(options):
        if option == "defaults":
            continue
        group = _FLAG_GROUPS.get(option)
        if group is not None:
            if group not in seen_flags:
                merged.insert(0, option)
                seen_flags.add(group)
            continue
        parts = option.split("=", 1)
        if len(parts) != 2 or parts[0] not in _DATA_KEYS:
            raise SpecError(f"Invalid tmpfs option {_go_quoted_list(parts)}")
        if parts[0] not in seen_data:
            merged.insert(0, option)
            seen_data.add(parts[0])
    return merged


def tmpfs_mount_options(data: str) -> list[str]:
    """Spec options of a tmpfs; `data` as in HostConfig.Tmpfs values ("rw,size=64m")."""
    options = list(TMPFS_BASE_OPTIONS)
    if data:
        options.extend(data.split(","))
    return merge_tmpfs_options(options)


def _size_with_suffix(size: int) -> str:
    for suffix, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if size % divisor == 0:
            return f"{size // divisor}{suffix}"
    return str(size)


# The flags TmpfsOptions.Options (API 1.46) may carry, as dockerd allows.
_TMPFS_FLAGS = ("exec", "noexec")


def tmpfs_data(tmpfs_options: Mapping[str, Any] | None, read_only: bool) -> str:
    """A tmpfs Mount's TmpfsOptions (SizeBytes, Mode, Options) and ReadOnly as an option
    string; SpecError for an option dockerd refuses."""
    raw: list[str] = ["ro"] if read_only else []
    if tmpfs_options:
        mode = get_int(tmpfs_options, "Mode")
        if mode:
            raw.append(f"mode={mode:o}")
        size = get_int(tmpfs_options, "SizeBytes")
        if size:
            raw.append(f"size={_size_with_suffix(size)}")
        for option in tmpfs_options.get("Options") or []:
            if not isinstance(option, list) or not 1 <= len(option) <= 2:
                raise SpecError("invalid option array length")
            if option[0] not in _TMPFS_FLAGS:
                raise SpecError(f"invalid option: {option[0]}")
            raw.append("=".join(str(part) for part in option))
    return ",".join(raw)
