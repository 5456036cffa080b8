"""The AppArmor profile containers run under when the host has AppArmor, as dockerd does.

dockerd loads a profile named "docker-default" at start and gives it to every container
that names no other; `--security-opt apparmor=NAME` picks a loaded profile instead,
`apparmor=unconfined` and `--privileged` run without one. moorage keeps that contract
(the name is what users see in /proc/self/attr/current and what their own profiles may
refer to as a peer), with profile text of its own below.
"""

from __future__ import annotations

import logging
import subprocess
from functools import cache

from .security import apparmor_enabled

log = logging.getLogger(__name__)

DEFAULT_PROFILE = "docker-default"
UNCONFINED = "unconfined"

# Self-contained (no #include), so it loads wherever apparmor_parser is, whatever the
# distribution ships in /etc/apparmor.d. Broad rules for what a container normally does,
# then denials for the host's kernel knobs that namespaces leave visible.
PROFILE_TEXT = """\
profile {name} flags=(attach_disconnected,mediate_deleted) {{
  file,
  network,
  capability,
  unix,
  signal,
  umount,
  ptrace (read, readby, trace, tracedby) peer={name},

  # Mounting from inside would undo the container's read-only and masked paths.
  deny mount,

  # The kernel's settings in /proc and /sys belong to the host.
  deny /proc/sys/{{kernel,vm,fs}}/** wklx,
  deny /proc/sysrq-trigger rwklx,
  deny /proc/kcore rwklx,
  deny /proc/kmem rwklx,
  deny /proc/mem rwklx,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
  deny /sys/fs/cgroup/**/release_agent wklx,
  deny /sys/[^f]*/** wklx,
}}
"""


def profile_text(name: str = DEFAULT_PROFILE) -> str:
    return PROFILE_TEXT.format(name=name)


@cache
def host_apparmor() -> bool:
    """AppArmor is on in this kernel (read once: it cannot change while the daemon runs)."""
    return apparmor_enabled()


def container_profile(option: str, privileged: bool, host_has_apparmor: bool) -> str:
    """The spec's process.apparmorProfile for `--security-opt apparmor=<option>` ("" if
    none given); "" means the runtime leaves the process as it is (unconfined)."""
    if not host_has_apparmor or option == UNCONFINED:
        return ""
    if option:
        return option
    return "" if privileged else DEFAULT_PROFILE


def load_default_profile() -> bool:
    """Load (or replace) the default profile with apparmor_parser when the host has
    AppArmor; False, logged, when it could not be loaded (containers then fail to start
    with the runtime's error, as they would under a profile the kernel lacks)."""
    if not host_apparmor():
        return False
    try:
        result = subprocess.run(
            ["apparmor_parser", "--replace"],
            input=profile_text().encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        log.error("cannot load the AppArmor profile %s: %s", DEFAULT_PROFILE, error)
        return False
    if result.returncode != 0:
        log.error(
            "cannot load the AppArmor profile %s: %s",
            DEFAULT_PROFILE,
            result.stderr.decode(errors="replace").strip(),
        )
        return False
    return True
