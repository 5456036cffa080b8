"""dockerd's bip, fixed-cidr and default-address-pools (daemon.json), in a private network
namespace: the default bridge's address and range, and the subnets of new networks."""

from __future__ import annotations

import ipaddress
import json

from tests.support.netns import NetnsDaemon, netns_daemon, restart_netns_daemon


async def _bridge_addresses(daemon: NetnsDaemon) -> list[str]:
    out = await daemon.netns.check("ip", "-4", "-o", "addr", "show", "dev", "moorage0")
    return [line.split()[3] for line in out.splitlines()]


async def _address(daemon: NetnsDaemon, name: str) -> ipaddress.IPv4Address:
    inspect = json.loads(await daemon.docker_ok("inspect", name))[0]
    return ipaddress.IPv4Address(inspect["NetworkSettings"]["IPAddress"])


async def test_bip_fixed_cidr_and_default_address_pools() -> None:
    options = {
        "bip": "10.20.0.1/24",
        "fixed-cidr": "10.20.0.128/25",
        "default-address-pools": [{"base": "10.30.0.0/16", "size": 24}],
    }
    async with netns_daemon(daemon_json=options) as daemon:
        await daemon.docker_ok("run", "-d", "--name", "ranged", "busybox", "sleep", "300")
        assert await _bridge_addresses(daemon) == ["10.20.0.1/24"]
        assert await _address(daemon, "ranged") in ipaddress.IPv4Network("10.20.0.128/25")
        bridge = json.loads(await daemon.docker_ok("network", "inspect", "bridge"))[0]
        assert bridge["IPAM"]["Config"][0]["Subnet"] == "10.20.0.0/24"
        assert bridge["IPAM"]["Config"][0]["Gateway"] == "10.20.0.1"
        await daemon.docker_ok("network", "create", "pooled")
        pooled = json.loads(await daemon.docker_ok("network", "inspect", "pooled"))[0]
        assert pooled["IPAM"]["Config"][0]["Subnet"] == "10.30.0.0/24"
        await daemon.docker_ok("rm", "-f", "ranged")

        # A new bip applies at the next start (nothing sits on the bridge any more).
        options["bip"], options["fixed-cidr"] = "10.21.0.1/24", "10.21.0.0/24"
        (daemon.workdir / "daemon.json").write_text(json.dumps(options))
        await restart_netns_daemon(daemon)
        await daemon.docker_ok("run", "-d", "--name", "moved", "busybox", "sleep", "300")
        assert await _bridge_addresses(daemon) == ["10.21.0.1/24"]
        assert await _address(daemon, "moved") in ipaddress.IPv4Network("10.21.0.0/24")
        # The bridge carries traffic on its new subnet.
        await daemon.docker_ok("run", "-d", "--name", "peer", "busybox", "sleep", "300")
        peer = await _address(daemon, "peer")
        out = await daemon.docker_ok("exec", "moved", "sh", "-c", f"ping -c 1 -W 2 {peer}")
        assert "1 packets received" in out
        await daemon.docker_ok("rm", "-f", "moved", "peer")
