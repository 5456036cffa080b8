"""The private-namespace harness itself: everything runs inside the namespace, and
nothing of it outlives the test."""

from __future__ import annotations

import os
import subprocess

from tests.support.containerd import processes_using
from tests.support.netns import NetnsDaemon, leftovers, namespace_names, netns_daemon


def _net_inode(path: str) -> int:
    return os.stat(path).st_ino


def _host_links() -> set[str]:
    listing = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    return {line.split(":")[1].strip() for line in listing.splitlines()}


async def test_daemon_containerd_and_containers_live_in_the_private_namespace() -> None:
    host_links = _host_links()
    kept: NetnsDaemon | None = None
    async with netns_daemon() as daemon:
        kept = daemon
        assert daemon.netns.name in namespace_names()
        namespace = _net_inode(str(daemon.netns.path))
        assert namespace != _net_inode("/proc/self/ns/net")
        pids = processes_using(str(daemon.workdir))
        assert daemon.process.pid in pids
        # The daemon and the containerd it manages (and its shims) all live in the namespace.
        assert {_net_inode(f"/proc/{pid}/ns/net") for pid in pids} == {namespace}

        # Commands run in the namespace see its own loopback only.
        links = await daemon.netns.check("ip", "-o", "link", "show")
        assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
        probe = await daemon.netns.python(
            "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print('ok')"
        )
        assert (probe.returncode, probe.stdout) == (0, "ok\n")

        out = await daemon.docker_ok("run", "--rm", "busybox", "echo", "inside")
        assert out == "inside\n"
    assert kept is not None
    assert leftovers(kept) == []
    # No link appeared in (or vanished from) the machine's own namespace.
    assert _host_links() == host_links
