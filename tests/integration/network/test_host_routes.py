"""A network given no subnet gets a default pool that overlaps none of the routes in the
daemon's namespace, as dockerd picks them: mooraged inside a container whose own network
is 172.18.0.0/16 must not hand that subnet to a new network too (its published ports and
routes would then point into its own container network). A subnet asked for explicitly is
not checked against the routes, as with dockerd."""

from __future__ import annotations

import json

from tests.support.netns import NetnsDaemon


async def _subnet(daemon: NetnsDaemon, name: str) -> str:
    network = json.loads(await daemon.docker_ok("network", "inspect", name))[0]
    return str(network["IPAM"]["Config"][0]["Subnet"])


async def test_a_default_pool_skips_the_hosts_routes(ns_daemon: NetnsDaemon) -> None:
    # The daemon's namespace gets a link on 172.18.0.0/16, as a container's eth0 would be.
    await ns_daemon.netns.check(
        "ip", "link", "add", "outside0", "type", "veth", "peer", "name", "outside1"
    )
    try:
        await ns_daemon.netns.check("ip", "addr", "add", "172.18.0.2/16", "dev", "outside0")
        await ns_daemon.netns.check("ip", "link", "set", "outside0", "up")
        await ns_daemon.docker_ok("network", "create", "picked")
        assert await _subnet(ns_daemon, "picked") == "172.19.0.0/16"
        await ns_daemon.docker_ok("network", "create", "--subnet", "172.18.0.0/16", "asked")
        assert await _subnet(ns_daemon, "asked") == "172.18.0.0/16"
    finally:
        await ns_daemon.docker("network", "rm", "picked", "asked")
        await ns_daemon.netns.run("ip", "link", "del", "outside0")
    # Without the route, the next network gets 172.18.0.0/16 again.
    await ns_daemon.docker_ok("network", "create", "after")
    try:
        assert await _subnet(ns_daemon, "after") == "172.18.0.0/16"
    finally:
        await ns_daemon.docker_ok("network", "rm", "after")
