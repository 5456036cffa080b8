"""A container's NetworkSettings (inspect) and its Networks map (`docker ps`), as dockerd
writes them, from the daemon's networks: the configured networks always, the address,
MAC and endpoint only while the container runs."""

from __future__ import annotations

from typing import Any

from daemon.container.live import LiveContainer
from daemon.daemon import Daemon
from daemon.network.model import BRIDGE, Member, Network
from daemon.network.ports import Published, split_port
from wire.container import ContainerInspect, ContainerSummary


def _dns_names(live: LiveContainer, network: Network, aliases: list[str]) -> list[str] | None:
    """The names the container answers to on a user network (API 1.44's DNSNames)."""
    if network.name == BRIDGE:
        return None
    names = [live.model.name.lstrip("/"), *aliases, live.id[:12]]
    hostname = live.model.config.get("Hostname")
    if hostname:
        names.append(str(hostname))
    return list(dict.fromkeys(n for n in names if n))


def _ipam_config(member: Member) -> dict[str, Any] | None:
    """The endpoint's IPAMConfig as the user gave it (dockerd omits empty fields)."""
    config: dict[str, Any] = {}
    if member.wanted_address:
        config["IPv4Address"] = member.wanted_address
    if member.link_local_ips:
        config["LinkLocalIPs"] = list(member.link_local_ips)
    return config or None


def _endpoint_settings(
    live: LiveContainer, network: Network, member: Member, running: bool
) -> dict[str, Any]:
    """At the newest API version: `wire.container.endpoints_at` gives older shapes."""
    endpoint = network.endpoints.get(member.container_id) if running else None
    aliases = list(member.aliases)
    pool = network.pool
    return {
        "IPAMConfig": _ipam_config(member),
        "Links": list(member.links) or None,
        "Aliases": aliases or None,
        "NetworkID": network.id,
        "EndpointID": endpoint.endpoint_id if endpoint else "",
        "Gateway": str(pool.gateway) if endpoint and pool and not network.internal else "",
        "IPAddress": str(endpoint.address) if endpoint else "",
        "IPPrefixLen": pool.prefix_len if endpoint and pool else 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        # Before its start, the MAC the user asked for, as dockerd shows it.
        "MacAddress": endpoint.mac if endpoint else member.wanted_mac,
        "DriverOpts": dict(member.driver_opts) or None,
        "DNSNames": _dns_names(live, network, aliases),
    }


def networks_map(daemon: Daemon, live: LiveContainer) -> dict[str, Any]:
    running = live.model.state.running
    found = {
        network.name: _endpoint_settings(live, network, member, running)
        for network, member in daemon.networks.memberships(live.id)
    }
    # Networks removed while it was stopped stay listed (dockerd keeps them in its settings
    # until a disconnect), with no address and the NetworkID of its last start on them.
    for name, member in daemon.networks.kept(live.id):
        gone = Network(member.network_id, name, BRIDGE, "")
        found.setdefault(name, _endpoint_settings(live, gone, member, running=False))
    return found


def _published(daemon: Daemon, live: LiveContainer) -> list[Published]:
    if not live.model.state.running:
        return []
    return [entry for _, e in daemon.networks.endpoints_of(live.id) for entry in e.ports]


def port_map(daemon: Daemon, live: LiveContainer) -> dict[str, Any]:
    """Inspect's Ports while running: every exposed or published port, with its host
    bindings (null for a port only exposed); {} when not running, as dockerd."""
    if not live.model.state.running:
        return {}
    ports: dict[str, Any] = {}
    for key in live.model.config.get("ExposedPorts") or {}:
        port, proto = split_port(key)
        ports[f"{port}/{proto}"] = None
    for entry in _published(daemon, live):
        bindings = ports.get(f"{entry.container_port}/{entry.proto}") or []
        bindings.append({"HostIp": entry.shown_ip, "HostPort": str(entry.host_port)})
        ports[f"{entry.container_port}/{entry.proto}"] = bindings
    return ports


def port_list(daemon: Daemon, live: LiveContainer) -> list[dict[str, Any]]:
    """`docker ps`'s Ports: published ports with their host side, exposed ones alone."""
    found: list[dict[str, Any]] = []
    published = _published(daemon, live)
    done = {(e.container_port, e.proto) for e in published}
    for entry in published:
        found.append(
            {
                "IP": entry.shown_ip,
                "PrivatePort": entry.container_port,
                "PublicPort": entry.host_port,
                "Type": entry.proto,
            }
        )
    for key in live.model.config.get("ExposedPorts") or {}:
        port, proto = split_port(key)
        if (port, proto) not in done:
            found.append({"PrivatePort": port, "Type": proto})
    return found


def apply_network_settings(daemon: Daemon, live: LiveContainer, body: ContainerInspect) -> None:
    """Fill inspect's NetworkSettings (a networking hook on the presenter's output)."""
    if not daemon.netrt.enabled:
        return
    settings = body["NetworkSettings"]
    networks = networks_map(daemon, live)
    settings["Networks"] = networks
    settings["Ports"] = port_map(daemon, live)
    path = daemon.netrt.sandbox_path(live.id, live.model.host_config)
    if path is not None and live.model.state.running:
        settings["SandboxID"] = live.id
        settings["SandboxKey"] = str(path)
    bridge = networks.get(BRIDGE)
    if bridge is not None:
        # The top-level fields are the default bridge network's, as in dockerd.
        settings["EndpointID"] = bridge["EndpointID"]
        settings["Gateway"] = bridge["Gateway"]
        settings["IPAddress"] = bridge["IPAddress"]
        settings["IPPrefixLen"] = bridge["IPPrefixLen"]
        settings["MacAddress"] = bridge["MacAddress"]


def apply_summary_networks(daemon: Daemon, live: LiveContainer, entry: ContainerSummary) -> None:
    """`docker ps`'s NetworkSettings.Networks and Ports."""
    if daemon.netrt.enabled:
        entry["NetworkSettings"] = {"Networks": networks_map(daemon, live)}
        entry["Ports"] = port_list(daemon, live)
