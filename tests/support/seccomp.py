"""Two `linux.seccomp` sections compared by what they do, not by how they are written.

dockerd and mooraged arrange the same filter differently: the order of rules and of the
names in them, one rule per group or one for many, an omitted `defaultErrnoRet` or
`valueTwo` where the other writes the value the runtime assumes. `normalized` keeps only
what reaches the kernel: the default action with its errno, the architectures, the
flags, and for each syscall name the set of (action with errno, argument conditions)
rules that name it.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import Any

# The actions that return an errno; without errnoRet runc returns EPERM for both.
_WITH_ERRNO = {"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"}


def _action(name: str, errno_ret: int | None) -> str:
    if name in _WITH_ERRNO:
        return f"{name}({errno.EPERM if errno_ret is None else errno_ret})"
    return name


def _conditions(rule: Mapping[str, Any]) -> tuple[tuple[int, str, int, int], ...]:
    # A rule's conditions must all hold: their order does not matter. valueTwo is 0 unless set.
    return tuple(
        sorted(
            (arg["index"], arg["op"], arg["value"], arg.get("valueTwo", 0))
            for arg in rule.get("args") or []
        )
    )


def normalized(section: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`linux.seccomp` reduced to its effect; None for none (the container is unconfined)."""
    if section is None:
        return None
    by_name: dict[str, set[tuple[str, tuple[tuple[int, str, int, int], ...]]]] = {}
    for rule in section.get("syscalls") or []:
        outcome = (_action(rule["action"], rule.get("errnoRet")), _conditions(rule))
        for name in rule["names"]:
            by_name.setdefault(name, set()).add(outcome)
    return {
        "defaultAction": _action(section["defaultAction"], section.get("defaultErrnoRet")),
        "architectures": sorted(section.get("architectures") or []),
        "flags": sorted(section.get("flags") or []),
        "listenerPath": section.get("listenerPath") or "",
        "syscalls": {name: sorted(rules) for name, rules in sorted(by_name.items())},
    }


def differences(
    a: dict[str, Any] | None, b: dict[str, Any] | None, names: tuple[str, str]
) -> list[str]:
    """What differs between two normalized sections, one line each (empty: the same)."""
    first, second = names
    if a is None or b is None:
        if a is b:
            return []
        state = {True: "unconfined", False: "filtered"}
        return [f"{first} {state[a is None]}, {second} {state[b is None]}"]
    lines = [
        f"{key}: {first} {a[key]!r}, {second} {b[key]!r}"
        for key in ("defaultAction", "architectures", "flags", "listenerPath")
        if a[key] != b[key]
    ]
    for name in sorted(a["syscalls"].keys() | b["syscalls"].keys()):
        x, y = a["syscalls"].get(name), b["syscalls"].get(name)
        if x != y:
            lines.append(f"{name}: {first} {x or 'not named'}, {second} {y or 'not named'}")
    return lines


def size(section: Mapping[str, Any] | None) -> str:
    """The section's size as written: rules and syscall names (what runc compiles at each start)."""
    rules = (section or {}).get("syscalls", [])
    return f"{len(rules)} rules / {sum(len(r.get('names', [])) for r in rules)} syscalls"
