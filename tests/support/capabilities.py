"""The capabilities a privileged container (or CapAdd ALL) gets on this machine."""

from __future__ import annotations

# dockerd 20.10 knows the capabilities up to CAP_AUDIT_READ (37): the newer ones are
# neither in ALL nor given to a privileged container, whatever the host has.
DOCKER_20_10_MASK = (1 << 38) - 1


def privileged_mask(status_path: str = "/proc/self/status") -> int:
    """This process's CapBnd (the daemon's, which tests run in-process or beside) limited to
    the capabilities dockerd 20.10 knows."""
    with open(status_path) as status:
        line = next(line for line in status if line.startswith("CapBnd:"))
    return int(line.split()[1], 16) & DOCKER_20_10_MASK
