"""A container's NetworkSettings (inspect) and its Networks map (`docker ps`), as dockerd
writes them, from the daemon's networks: the configured networks always, the address,
MAC and endpoint only while the container runs."""

from __future__ import annotations

from typing import Any

from daemon.container.live import LiveContainer
from daemon.daemon import Daemon
from daemon.network.model import BRIDGE, Member, Network


def _endpoint_settings(network: Network, member: Member, running: bool) -> dict[str, Any]:
    endpoint = network.endpoints.get(member.container_id) if running else None
    aliases = list(member.aliases)
    if endpoint is not None and network.name != BRIDGE:
        aliases.append(member.container_id[:12])  # dockerd adds the short id on user networks
    pool = network.pool
    return {
        "IPAMConfig": {"IPv4Address": member.wanted_address} if member.wanted_address else None,
        "Links": None,
        "Aliases": aliases or None,
        "NetworkID": network.id,
        "EndpointID": endpoint.endpoint_id if endpoint else "",
        "Gateway": str(pool.gateway) if endpoint and pool and not network.internal else "",
        "IPAddress": str(endpoint.address) if endpoint else "",
        "IPPrefixLen": pool.prefix_len if endpoint and pool else 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": endpoint.mac if endpoint else "",
        "DriverOpts": None,
    }


def networks_map(daemon: Daemon, live: LiveContainer) -> dict[str, Any]:
    running = live.model.state.running
    return {
        network.name: _endpoint_settings(network, member, running)
        for network, member in daemon.networks.memberships(live.id)
    }


def apply_network_settings(daemon: Daemon, live: LiveContainer, body: dict[str, Any]) -> None:
    """Fill inspect's NetworkSettings (a networking hook on the presenter's output)."""
    if not daemon.netrt.enabled:
        return
    settings = body["NetworkSettings"]
    networks = networks_map(daemon, live)
    settings["Networks"] = networks
    path = daemon.netrt.sandbox_path(live.id, live.model.host_config)
    if path is not None and live.model.state.running:
        settings["SandboxID"] = live.id
        settings["SandboxKey"] = str(path)
    bridge = networks.get(BRIDGE)
    if bridge is not None:
        # The top-level fields are the default bridge network's, as in dockerd.
        for key in ("EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress"):
            settings[key] = bridge[key]


def apply_summary_networks(daemon: Daemon, live: LiveContainer, entry: dict[str, Any]) -> None:
    """`docker ps`'s NetworkSettings.Networks."""
    if daemon.netrt.enabled:
        entry["NetworkSettings"] = {"Networks": networks_map(daemon, live)}
