"""Docker's `User` ("name", "uid", "name:group", "uid:gid") resolved against the container's
/etc/passwd and /etc/group, with its supplementary groups and HostConfig.GroupAdd.

Lookups run when the spec is built; dockerd does them at start, and its errors
are 500s from `start`, hence StartError.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import StartError
from .rootfs import FileReader

PASSWD_PATH = "/etc/passwd"
GROUP_PATH = "/etc/group"
_MAX_ID = 2**31 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def _atoi(text: str) -> int | None:
    return int(text) if _INTEGER.fullmatch(text) else None


def _fields(line: str, count: int) -> list[str]:
    parts = line.split(":")
    return (parts + [""] * count)[:count]


def _lines(data: bytes | None) -> list[str]:
    if data is None:
        return []
    stripped = (line.strip() for line in data.decode(errors="replace").splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def parse_passwd(data: bytes | None) -> list[PasswdEntry]:
    entries: list[PasswdEntry] = []
    for line in _lines(data):
        name, _, uid, gid, _, home, _ = _fields(line, 7)
        entries.append(PasswdEntry(name, _atoi(uid) or 0, _atoi(gid) or 0, home))
    return entries


def parse_group(data: bytes | None) -> list[GroupEntry]:
    entries: list[GroupEntry] = []
    for line in _lines(data):
        name, _, gid, members = _fields(line, 4)
        listed = tuple(m for m in members.split(",") if m)
        entries.append(GroupEntry(name, _atoi(gid) or 0, listed))
    return entries


# Parsed files by their bytes: every container of an image reads the same two files at
# each create and start, and parsing them was a third of `resolve_user` (issue 13). Keyed
# on the content read, so a file changed in the container's rootfs is parsed afresh; a
# large file is not kept (64 of them would be held).
_CACHED_SIZE = 64 * 1024
T = TypeVar("T")


def _parsed_once(parse: Callable[[bytes | None], list[T]]) -> Callable[[bytes | None], Sequence[T]]:
    """`parse`, remembered for the last 64 small contents it was given."""
    remembered = functools.lru_cache(maxsize=64)(lambda data: tuple(parse(data)))

    def parsed(data: bytes | None) -> Sequence[T]:
        if data is not None and len(data) > _CACHED_SIZE:
            return parse(data)
        return remembered(data)

    return parsed


_passwd_of = _parsed_once(parse_passwd)
_groups_of = _parsed_once(parse_group)


def _check_range(value: int) -> int:
    if not 0 <= value <= _MAX_ID:
        raise StartError(f"uids and gids must be in range 0-{_MAX_ID}")
    return value


def _user_matches(entry: PasswdEntry, user_arg: str, numeric: int | None) -> bool:
    if not user_arg:
        return entry.uid == 0  # no user: root, named as passwd names it
    if numeric is not None:
        return entry.uid == numeric  # a number is always a uid, even if a name looks like it
    return entry.name == user_arg


def _lookup_user(user_arg: str, passwd: Sequence[PasswdEntry]) -> tuple[int, int, str]:
    """(uid, gid, matched name) for the user part; a numeric one needs no entry."""
    numeric = _atoi(user_arg)
    for entry in passwd:
        if _user_matches(entry, user_arg, numeric):
            return entry.uid, entry.gid, entry.name
    if not user_arg:
        return 0, 0, ""
    if numeric is None:
        raise StartError(f"unable to find user {user_arg}: no matching entries in passwd file")
    return _check_range(numeric), 0, ""


def _additional_gids(group_add: Sequence[str], groups: Sequence[GroupEntry]) -> list[int]:
    gids: dict[int, None] = {}
    for wanted in group_add:
        # A group asked for twice is simply kept once.
        match = next((g for g in groups if wanted in (g.name, str(g.gid))), None)
        if match is not None:
            gids[match.gid] = None
            continue
        numeric = _atoi(wanted)
        if numeric is None:
            raise StartError(f"Unable to find group {wanted}")
        gids[_check_range(numeric)] = None
    return list(gids)


def resolve_user(
    user: str, group_add: Sequence[str] = (), read_file: FileReader | None = None
) -> dict[str, Any]:
    """The spec's `process.user` for Config.User (empty: root) and HostConfig.GroupAdd.

    `read_file` reads the container's files (see `rootfs`); without it, as with a
    missing passwd file, only numeric users and groups resolve.
    """
    passwd = _passwd_of(read_file(PASSWD_PATH) if read_file else None)
    groups = _groups_of(read_file(GROUP_PATH) if read_file else None)
    parts = user.split(":")
    user_arg, group_arg = parts[0], parts[1] if len(parts) > 1 else ""

    uid, gid, matched = _lookup_user(user_arg, passwd)
    supplementary: list[int] = []
    if group_arg:
        numeric = _atoi(group_arg)
        found = next(
            (
                g
                for g in groups
                if (g.gid == numeric if numeric is not None else g.name == group_arg)
            ),
            None,
        )
        if found is not None:
            gid = found.gid
        elif numeric is None:
            raise StartError(f"unable to find group {group_arg}: no matching entries in group file")
        else:
            gid = _check_range(numeric)
    elif matched:
        # Supplementary groups only come with the implicit form ("name", not "name:group").
        supplementary = [g.gid for g in groups if matched in g.members]

    result: dict[str, Any] = {"uid": uid, "gid": gid}
    extra = supplementary + _additional_gids(group_add, groups)
    if extra:
        result["additionalGids"] = extra
    return result
