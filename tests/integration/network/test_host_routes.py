"""A subnet picked from the default pools overlaps none of the routes in the daemon's
namespace, as dockerd picks them: mooraged inside a container whose own network is
172.18.0.0/16 must not hand that subnet to a new network too (its published ports and
routes would then point into its own container network), nor, on a first start where
172.17.0.0/16 is routed, to the default bridge. A subnet asked for explicitly is not
checked against the routes, as with dockerd."""

from __future__ import annotations

import json

from tests.support.netns import NetnsDaemon, PrivateNetns, netns_daemon


async def _subnet(daemon: NetnsDaemon, name: str) -> str:
    network = json.loads(await daemon.docker_ok("network", "inspect", name))[0]
    return str(network["IPAM"]["Config"][0]["Subnet"])


async def _route_to(netns: PrivateNetns, link: str, address: str) -> None:
    """A veth pair with `address` on `link`, up: a route to its subnet, as a container's
    eth0 brings one."""
    await netns.check("ip", "link", "add", link, "type", "veth", "peer", "name", f"{link}p")
    await netns.check("ip", "addr", "add", address, "dev", link)
    await netns.check("ip", "link", "set", link, "up")


async def test_a_new_network_skips_the_hosts_routes(ns_daemon: NetnsDaemon) -> None:
    await _route_to(ns_daemon.netns, "outside0", "172.18.0.2/16")
    try:
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


async def test_the_default_bridge_skips_the_hosts_routes() -> None:
    async def routed(netns: PrivateNetns) -> None:
        await _route_to(netns, "outside0", "172.17.0.2/16")

    async with netns_daemon(before_start=routed) as daemon:
        assert await _subnet(daemon, "bridge") == "172.18.0.0/16"
        inside = await daemon.docker_ok("run", "--rm", "busybox", "hostname", "-i")
        assert inside.strip() == "172.18.0.2"
