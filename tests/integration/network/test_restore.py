"""A daemon killed by SIGKILL, with live restore, in a private namespace: running
containers keep their addresses, published ports, name resolution and the nftables
ruleset exactly as before; a container that died while the daemon was down has its
address, port and veth freed at the restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

from tests.integration.network.test_ports import _curl, _ruleset
from tests.support.netns import NetnsDaemon, restart_netns_daemon

DEADLINE = 10.0
HTTPD = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"


async def _inspect(daemon: NetnsDaemon, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(await daemon.docker_ok("inspect", name))
    return found[0]


async def _fetch_by_name(daemon: NetnsDaemon, container: str, host: str) -> str:
    command = f"timeout 3 sh -c 'wget -qO- http://{host}/'"
    return await daemon.docker_ok("exec", container, "sh", "-c", command)


async def _veths(daemon: NetnsDaemon) -> set[str]:
    out = await daemon.netns.check("ip", "-o", "link", "show", "type", "veth")
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


async def test_kill_9_keeps_addresses_ports_names_and_rules(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("network", "create", "kept")
    for name, port in (("kweb", "18095"), ("kdies", "18096")):
        await ns_daemon.docker_ok("run", "-d", "--name", name, "--hostname", name,
                                  "--network", "kept", "-p", f"{port}:80",
                                  "busybox", "sh", "-c", HTTPD)  # fmt: skip
    await ns_daemon.docker_ok("run", "-d", "--name", "kcli", "--network", "kept",
                              "busybox", "sleep", "300")  # fmt: skip
    assert await _curl(ns_daemon, "http://127.0.0.1:18095/") == "kweb\n"
    assert await _curl(ns_daemon, "http://127.0.0.1:18096/") == "kdies\n"
    assert await _fetch_by_name(ns_daemon, "kcli", "kweb") == "kweb\n"
    web_before = (await _inspect(ns_daemon, "kweb"))["NetworkSettings"]["Networks"]["kept"]
    rules_with_both = await _ruleset(ns_daemon)
    veths_with_both = await _veths(ns_daemon)
    dies = await _inspect(ns_daemon, "kdies")

    await restart_netns_daemon(ns_daemon, signal.SIGKILL)

    # A live-restored container: the same address, port, name and rules.
    web_after = (await _inspect(ns_daemon, "kweb"))["NetworkSettings"]["Networks"]["kept"]
    assert web_after == web_before
    assert await _ruleset(ns_daemon) == rules_with_both
    assert await _curl(ns_daemon, "http://127.0.0.1:18095/") == "kweb\n"
    assert await _fetch_by_name(ns_daemon, "kcli", "kweb") == "kweb\n"
    taken = await ns_daemon.docker("run", "--rm", "-p", "18095:80", "busybox", "true")
    assert "port is already allocated" in taken.stderr

    # One dies while the daemon is down: at the next restart its port, address and veth go.
    async def kill_it() -> None:
        pid = dies["State"]["Pid"]
        os.kill(pid, signal.SIGKILL)
        async with asyncio.timeout(DEADLINE):
            while await asyncio.to_thread(os.path.exists, f"/proc/{pid}"):  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # the kernel reaps it; no event to wait on

    await restart_netns_daemon(ns_daemon, signal.SIGKILL, while_down=kill_it)
    assert (await _inspect(ns_daemon, "kdies"))["State"]["Running"] is False
    assert "18096" not in await _ruleset(ns_daemon)
    async with asyncio.timeout(DEADLINE):
        # The kernel destroys the unbound namespace, and the veth with it, soon after.
        while len(veths_with_both - await _veths(ns_daemon)) != 1:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    # Its address is free again: a new container on the network gets it.
    await ns_daemon.docker_ok("run", "-d", "--name", "knew", "--network", "kept",
                              "busybox", "sleep", "300")  # fmt: skip
    knew = (await _inspect(ns_daemon, "knew"))["NetworkSettings"]["Networks"]["kept"]
    assert knew["IPAddress"] == dies["NetworkSettings"]["Networks"]["kept"]["IPAddress"]
    assert await _curl(ns_daemon, "http://127.0.0.1:18095/") == "kweb\n"
    await ns_daemon.docker_ok("rm", "-f", "kweb", "kdies", "kcli", "knew")
    await ns_daemon.docker_ok("network", "rm", "kept")
