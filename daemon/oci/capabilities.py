"""Linux capability names, Docker's rules for CapAdd/CapDrop, and the daemon's bounding set."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from .defaults import DEFAULT_CAPABILITIES
from .errors import SpecError

# Index = capability number, as in linux/capability.h.
CAPABILITY_NAMES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
ALL = "ALL"
# The names dockerd 20.10 knows end at CAP_AUDIT_READ: it refuses CAP_PERFMON, CAP_BPF and
# CAP_CHECKPOINT_RESTORE as unknown and leaves them out of ALL and privileged (its seccomp
# profile has no rule for them). The table above still names them, for reading masks.
DOCKER_CAPABILITIES = CAPABILITY_NAMES[: CAPABILITY_NAMES.index("CAP_AUDIT_READ") + 1]
_KNOWN = frozenset(DOCKER_CAPABILITIES)


def caps_from_mask(mask: int) -> frozenset[str]:
    """The named capabilities whose bits are set; bits beyond the table are unnamed, so dropped."""
    return frozenset(name for bit, name in enumerate(CAPABILITY_NAMES) if mask >> bit & 1)


def bounding_capabilities(status_path: str = "/proc/self/status") -> frozenset[str]:
    """The daemon's own bounding set: a container can never hold more than this.

    Computed once at daemon start-up and handed to `build_spec` as `daemon_caps`.
    """
    with open(status_path) as status:
        for line in status:
            if line.startswith("CapBnd:"):
                return caps_from_mask(int(line.split(":", 1)[1].strip(), 16))
    # Without the line (never on Linux) assume nothing is missing rather than everything.
    return frozenset(CAPABILITY_NAMES)


def normalize_capabilities(values: Iterable[str], field: str) -> list[str]:
    """Upper-case, CAP_-prefixed names; "ALL" kept as is. `field` names the option in errors."""
    normalized: list[str] = []
    for value in values:
        name = value.upper()
        if name != ALL and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != ALL and name not in _KNOWN:
            raise SpecError(f'invalid {field}: unknown capability: "{name}"')
        normalized.append(name)
    return normalized


def all_capabilities(daemon_caps: Collection[str] | None = None) -> list[str]:
    """What "ALL" and privileged mean: every capability dockerd 20.10 knows that the daemon
    has (`daemon_caps`, see `bounding_capabilities`), in capability order."""
    return [c for c in DOCKER_CAPABILITIES if daemon_caps is None or c in daemon_caps]


def _dedupe(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def container_capabilities(
    cap_add: Sequence[str] | None,
    cap_drop: Sequence[str] | None,
    *,
    privileged: bool = False,
    daemon_caps: frozenset[str] | None = None,
) -> list[str]:
    """The capability list of the container's process, in Docker's order.

    `daemon_caps` (see `bounding_capabilities`) bounds the result: asking the
    runtime for a capability the daemon lacks makes the process fail to start,
    so "ALL" and privileged mean `all_capabilities`.
    """
    everything = all_capabilities(daemon_caps)
    if privileged:
        return everything
    adds = normalize_capabilities(cap_add or [], "CapAdd")
    drops = normalize_capabilities(cap_drop or [], "CapDrop")
    if ALL in adds:
        caps = [c for c in everything if c not in drops]
    elif ALL in drops:
        caps = adds
    else:
        caps = [c for c in DEFAULT_CAPABILITIES if c not in drops] + adds
    return [c for c in _dedupe(caps) if daemon_caps is None or c in daemon_caps]
