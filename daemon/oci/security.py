"""HostConfig.SecurityOpt, parsed with dockerd's rules.

`seccomp=` is "unconfined", a profile's JSON (the CLI sends a file's content), or
empty (the default); the filter itself comes from `seccomp`, at start.
`systempaths=unconfined` is the CLI's: it sends empty MaskedPaths and ReadonlyPaths
instead, and dockerd 20.10 refuses the option itself as any unknown key (a 500 at
create). `apparmor=` picks the
container's profile where the host has AppArmor (daemon/oci/apparmor.py). moorage
does no SELinux labelling: `label=` is accepted and has no effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import SecurityOptError

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


@dataclass(frozen=True)
class SecurityOptions:
    # None: not given, the daemon's default (daemon.json "no-new-privileges") applies.
    no_new_privileges: bool | None = None
    seccomp: str = ""
    apparmor: str = ""
    labels: tuple[str, ...] = ()


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_security_opts(options: Sequence[str]) -> SecurityOptions:
    no_new_privileges: bool | None = None
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
            raise SecurityOptError(f"invalid --security-opt 1: {_go_quote(option)}")
        key, value = option.split(separator, 1)
        if key == "label":
            labels.append(value)
        elif key == "apparmor":
            apparmor = value
        elif key == "seccomp":
            seccomp = value  # a profile is decoded at start, as by dockerd (oci/seccomp.py)
        elif key == "no-new-privileges":
            if value not in _TRUE | _FALSE:
                raise SecurityOptError(f"invalid --security-opt 2: {_go_quote(option)}")
            no_new_privileges = value in _TRUE
        else:
            raise SecurityOptError(f"invalid --security-opt 2: {_go_quote(option)}")
    return SecurityOptions(no_new_privileges, seccomp, apparmor, tuple(labels))


APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"


def apparmor_enabled(path: str = APPARMOR_ENABLED) -> bool:
    """The host's AppArmor is on (the module is loaded and says "Y")."""
    try:
        with open(path) as flag:
            return flag.read().strip() == "Y"
    except OSError:
        return False


def info_security_options(apparmor: bool, seccomp_profile: str = "") -> list[str]:
    """`docker info`'s SecurityOptions, in dockerd's order.

    moorage confines with seccomp (its default profile, or the daemon's
    --seccomp-profile as given) and, when the host has AppArmor, with its
    docker-default profile (daemon/oci/apparmor.py); AppArmor is listed then, as
    dockerd does.
    """
    options = ["name=apparmor"] if apparmor else []
    profile = "default" if seccomp_profile in ("", "builtin") else seccomp_profile
    options.append(f"name=seccomp,profile={profile}")
    return options
