"""HostConfig.SecurityOpt, parsed with dockerd's rules.

moorage ships no seccomp or AppArmor profile yet, and no SELinux labelling:
containers run without a seccomp filter (as with `seccomp=unconfined`).
`label=` and `apparmor=` options are accepted and have no effect; a custom
seccomp profile is refused rather than silently not applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import SpecError

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


@dataclass(frozen=True)
class SecurityOptions:
    no_new_privileges: bool = False
    seccomp: str = ""
    apparmor: str = ""
    labels: tuple[str, ...] = ()


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_security_opts(options: Sequence[str]) -> SecurityOptions:
    no_new_privileges = False
    seccomp = apparmor = ""
    labels: list[str] = []
    for option in options:
        if option == "no-new-privileges":
            no_new_privileges = True
            continue
        if option == "disable":
            labels.append(option)
            continue
        # "=" is the separator; ":" is the deprecated one, still accepted.
        separator = "=" if "=" in option else ":" if ":" in option else ""
        if not separator:
            raise SpecError(f"invalid --security-opt 1: {_go_quote(option)}")
        key, value = option.split(separator, 1)
        if key == "label":
            labels.append(value)
        elif key == "apparmor":
            apparmor = value
        elif key == "seccomp":
            if value != "unconfined":
                raise SpecError(
                    "seccomp profiles are not supported yet: moorage runs containers "
                    "without seccomp (as seccomp=unconfined)"
                )
            seccomp = value
        elif key == "no-new-privileges":
            if value not in _TRUE | _FALSE:
                raise SpecError(f"invalid --security-opt 2: {_go_quote(option)}")
            no_new_privileges = value in _TRUE
        else:
            raise SpecError(f"invalid --security-opt 2: {_go_quote(option)}")
    return SecurityOptions(no_new_privileges, seccomp, apparmor, tuple(labels))
