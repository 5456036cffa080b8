"""Network endpoints: list, inspect, create, connect, disconnect, remove, prune, and the
JSON of a network as dockerd writes it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from daemon import errors
from daemon.container.live import LiveContainer
from daemon.daemon import Daemon
from daemon.filters import Filters
from daemon.network.ipam import Pool
from daemon.network.manager import CreateRequest, IPAMRequest
from daemon.network.model import Network
from wire.api_versions import NETWORK_ENABLE_IPV4
from wire.network import EndpointSettings
from wire.networks import (
    NetworkConnectRequest,
    NetworkCreateRequest,
    NetworkDisconnectRequest,
    network_at,
)

from ..body import read_json
from ..versioning import api_version
from .common import DAEMON, json_reply


def network_json(network: Network, *, containers: bool) -> dict[str, Any]:
    """A network as `GET /networks/{id}` (with its containers) or `GET /networks` (whose
    entries have an empty Containers map, as dockerd's) show it."""
    config: list[dict[str, Any]] = []
    pool = network.pool
    if pool is not None:
        entry: dict[str, Any] = {"Subnet": str(pool.subnet)}
        if pool.ip_range is not None:
            entry["IPRange"] = str(pool.ip_range)
        entry["Gateway"] = str(pool.gateway)
        if pool.aux:
            entry["AuxiliaryAddresses"] = {k: str(v) for k, v in pool.aux.items()}
        config.append(entry)
    attached: dict[str, Any] = {}
    if containers:
        # Running containers only: a stopped one has no endpoint, as in dockerd.
        for endpoint in network.endpoints.values():
            member = network.members.get(endpoint.container_id)
            attached[endpoint.container_id] = {
                "Name": member.container_name if member else "",
                "EndpointID": endpoint.endpoint_id,
                "MacAddress": endpoint.mac,
                "IPv4Address": f"{endpoint.address}/{pool.prefix_len}" if pool else "",
                "IPv6Address": "",
            }
    doc: dict[str, Any] = {
        "Name": network.name,
        "Id": network.id,
        "Created": network.created,
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv4": True,
        "EnableIPv6": network.enable_ipv6,
        "IPAM": {
            "Driver": network.ipam_driver,
            "Options": network.ipam_options,
            "Config": config,
        },
        "Internal": network.internal,
        "Attachable": network.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": attached,
        "Options": dict(network.options),
        "Labels": dict(network.labels),
    }
    if containers and pool is not None:
        doc["Status"] = {"IPAM": {"Subnets": {str(pool.subnet): _subnet_status(pool)}}}
    return doc


def _subnet_status(pool: Pool) -> dict[str, int]:
    """dockerd's SubnetStatus: the subnet's reserved and allocated addresses, and how many
    the IP range has left."""
    subnet = pool.subnet
    taken = {
        subnet.network_address,
        subnet.broadcast_address,
        pool.gateway,
        *pool.allocated,
        *pool.reserved,
    }
    addresses = pool.ip_range or subnet
    return {
        "IPsInUse": len(taken),
        "DynamicIPsAvailable": addresses.num_addresses - sum(1 for a in taken if a in addresses),
    }


async def list_networks(request: web.Request) -> web.Response:
    filters = Filters.from_query(request.query).as_dict()
    found = request.app[DAEMON].networks.listing(filters)
    version = api_version(request)
    return json_reply([network_at(network_json(n, containers=False), version) for n in found])


async def inspect(request: web.Request) -> web.Response:
    network = request.app[DAEMON].networks.get(request.match_info["id"])
    return json_reply(network_at(network_json(network, containers=True), api_version(request)))


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, NetworkCreateRequest)
    if body.EnableIPv4 is False and NETWORK_ENABLE_IPV4.applies(api_version(request)):
        raise errors.InvalidParameter("IPv4 cannot be disabled on this daemon's networks")
    ipam = body.IPAM
    configs = ipam.Config or [] if ipam else []
    daemon = request.app[DAEMON]
    # A default pool is picked only without a subnet: only then do the host's routes count.
    asked = any(c.Subnet for c in configs)
    host_routes = [] if asked else await daemon.netrt.host_routes()
    network = daemon.networks.create(
        CreateRequest(
            name=body.Name,
            driver=body.Driver,
            ipam=[
                IPAMRequest(c.Subnet, c.Gateway, c.IPRange, dict(c.AuxiliaryAddresses or {}))
                for c in configs
            ],
            ipam_driver=ipam.Driver if ipam else "",
            ipam_options=ipam.Options if ipam else None,
            internal=body.Internal,
            attachable=body.Attachable,
            enable_ipv6=body.EnableIPv6,
            options=dict(body.Options or {}),
            labels=dict(body.Labels or {}),
        ),
        host_routes,
    )
    await request.app[DAEMON].netrt.rebuild_rules()  # the new bridge's isolation and NAT
    return json_reply({"Id": network.id, "Warning": ""}, status=201)


async def connect(request: web.Request) -> web.Response:
    body = await read_json(request, NetworkConnectRequest)
    daemon = request.app[DAEMON]
    live = daemon.get(body.Container)  # first, as dockerd: its 404 wins over the network's
    network = daemon.networks.get(request.match_info["id"])
    async with live.lock:  # not while the container starts or exits
        await connect_endpoint(daemon, network, live, body.EndpointConfig)
    return web.Response(status=200)


async def connect_endpoint(
    daemon: Daemon, network: Network, live: LiveContainer, endpoint: EndpointSettings | None
) -> None:
    """Make `live` a member of `network` with `endpoint`'s settings (the caller holds its
    lock): `docker network connect`, and the extra networks of a create (API 1.44)."""
    ipam = endpoint.IPAMConfig if endpoint else None
    await daemon.netrt.connect(
        network.id,
        live.id,
        live.model.name,
        live.model.host_config,
        running=live.model.state.running,
        aliases=list(endpoint.Aliases or []) if endpoint else [],
        ipv4=ipam.IPv4Address if ipam else "",
        linked=list(endpoint.Links or []) if endpoint else [],
        resolv_conf=live.model.dir / "resolv.conf",
        mac=endpoint.MacAddress if endpoint else "",
        driver_opts=endpoint.DriverOpts if endpoint else None,
        link_local_ips=list(ipam.LinkLocalIPs or []) if ipam else [],
    )


async def disconnect(request: web.Request) -> web.Response:
    body = await read_json(request, NetworkDisconnectRequest)
    daemon = request.app[DAEMON]
    ref = request.match_info["id"]
    try:
        live = daemon.get(body.Container)  # first, as dockerd: its 404 wins over the network's
    except errors.NotFound:
        if not body.Force:
            raise
        # Forced: the endpoint of a container that is gone is cleaned up by its id.
        # None there is dockerd's 404 from its endpoint lookup, not a failure.
        network = daemon.networks.get(ref)
        if body.Container not in network.members:
            raise errors.NotFound(f"endpoint {body.Container} not found") from None
        await daemon.netrt.disconnect(network.id, body.Container)
        return web.Response(status=200)
    async with live.lock:  # not while the container starts or exits
        running = live.model.state.running
        mode = str(live.model.host_config.get("NetworkMode") or "")
        await daemon.netrt.disconnect(ref, live.id, running=running, force=body.Force, mode=mode)
    return web.Response(status=200)


async def remove(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    network = daemon.networks.get(request.match_info["id"])
    daemon.networks.remove(network.id)
    await daemon.netrt.remove_bridge(network)
    return web.Response(status=204)


async def prune(request: web.Request) -> web.Response:
    filters = Filters.from_query(request.query).as_dict()
    daemon = request.app[DAEMON]
    gone = {n.id: n for n in daemon.networks.networks()}
    deleted = daemon.networks.prune(filters)
    for network in gone.values():
        if network.name in deleted:
            await daemon.netrt.remove_bridge(network)
    return json_reply({"NetworksDeleted": deleted or None})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/networks", list_networks)
    router.add_get("/networks/", list_networks)
    router.add_post("/networks/create", create)
    router.add_post("/networks/prune", prune)
    router.add_get("/networks/{id}", inspect)
    router.add_delete("/networks/{id}", remove)
    router.add_post("/networks/{id}/connect", connect)
    router.add_post("/networks/{id}/disconnect", disconnect)
