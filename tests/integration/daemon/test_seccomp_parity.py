"""mooraged's default seccomp profile does what dockerd 20.10's does, for every capability
that changes it.

The same container (busybox, the same HostConfig) is started through mooraged and
through dockerd 20.10 on the same containerd, and the `linux.seccomp` of the two OCI
specs containerd holds are compared by effect (tests/support/seccomp.py): default action
and errno, architectures, and for every syscall name its actions, errnos and argument
conditions. dockerd runs as the seccomp benchmark runs it (bench/seccomp_cost.py: its
own namespace and roots, no bridge, iptables or sysctl touched); the test is skipped
where no dockerd binary is installed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bench.engines import HostFootprint
from bench.lifecycle import CMD
from bench.seccomp_cost import dockerd_specs, seccomp_of
from daemon.oci.capabilities import bounding_capabilities
from tests.support.containerd import TestContainerd
from tests.support.daemon import RunningDaemon
from tests.support.images import write_docker_save
from tests.support.seccomp import differences, normalized

pytestmark = pytest.mark.skipif(shutil.which("dockerd") is None, reason="no dockerd installed")

# Every capability outside the default set that one of dockerd 20.10's rules depends on
# (it knows neither CAP_BPF nor CAP_PERFMON: it refuses them). CAP_SYS_CHROOT, the one in
# the default set, is dropped below.
PROFILE_CAPS = (
    "SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_BOOT", "SYS_NICE", "SYS_PACCT",
    "SYS_RAWIO", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "DAC_READ_SEARCH",
)  # fmt: skip
CASES: dict[str, dict[str, Any]] = {
    "default": {},
    **{f"cap-add {cap}": {"CapAdd": [cap]} for cap in PROFILE_CAPS},
    "cap-add all of them": {"CapAdd": list(PROFILE_CAPS)},
    "cap-drop SYS_CHROOT": {"CapDrop": ["SYS_CHROOT"]},
    "cap-drop ALL": {"CapDrop": ["ALL"]},
    "seccomp=unconfined": {"SecurityOpt": ["seccomp=unconfined"]},
}
# A capability this machine does not have cannot be given to a container by either daemon.
RUNNABLE = {
    name: host_config
    for name, host_config in CASES.items()
    if {f"CAP_{cap}" for cap in host_config.get("CapAdd", [])} <= bounding_capabilities()
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dockerd_spec(containerd: TestContainerd) -> dict[str, dict[str, Any]]:
    """dockerd's spec for each runnable case."""
    footprint = HostFootprint()
    workdir = Path(tempfile.mkdtemp(prefix="seccomp-dockerd-", dir=containerd.workdir))
    try:
        archive = workdir / "busybox.tar"
        write_docker_save(archive)
        specs = await dockerd_specs(containerd, workdir, archive, list(RUNNABLE.values()))
    finally:
        footprint.restore()
    return dict(zip(RUNNABLE, specs, strict=True))


async def mooraged_spec(
    daemon: RunningDaemon, containerd: TestContainerd, host_config: dict[str, Any]
) -> dict[str, Any]:
    """mooraged's spec for the container dockerd_specs starts, as containerd holds it."""
    status, created = await daemon.request(
        "POST", "/containers/create", {"Image": "busybox", "Cmd": CMD, "HostConfig": host_config}
    )
    assert status == 201, created
    try:
        status, body = await daemon.request("POST", f"/containers/{created['Id']}/start")
        assert status == 204, body
        info = await containerd.ctr("containers", "info", created["Id"])
        spec: dict[str, Any] = json.loads(info.stdout)["Spec"]
        return spec
    finally:
        status, body = await daemon.request("DELETE", f"/containers/{created['Id']}", force="1")
        assert status == 204, body


@pytest.mark.parametrize("case", CASES)
async def test_seccomp_section_does_what_dockerd_20_10s_does(
    case: str,
    daemon: RunningDaemon,
    containerd: TestContainerd,
    dockerd_spec: dict[str, dict[str, Any]],
) -> None:
    if case not in RUNNABLE:
        pytest.skip(f"{case}: this machine's bounding set lacks the capability")
    ours, theirs = await mooraged_spec(daemon, containerd, CASES[case]), dockerd_spec[case]
    # The filter depends on the bounding set: the comparison means something only if the
    # two daemons gave the container the same one (as a set: dockerd 20.10 names a default
    # capability twice when it is also added).
    bounding = [set(s["process"]["capabilities"].get("bounding", [])) for s in (ours, theirs)]
    assert bounding[0] == bounding[1]
    expected = normalized(seccomp_of(theirs))
    assert differences(expected, normalized(seccomp_of(ours)), ("dockerd", "mooraged")) == []
    # Not vacuous: dockerd filters (but for unconfined), and each capability case is
    # one of its capability-dependent rules at work.
    default = normalized(seccomp_of(dockerd_spec["default"]))
    assert default is not None and len(default["syscalls"]) > 300
    if case == "seccomp=unconfined":
        assert expected is None
    elif case != "default":
        assert expected != default
