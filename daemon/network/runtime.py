"""Networking at run time: each container's namespace (its sandbox) and the endpoints
that plug it into its networks' bridges, made at start and undone at exit.

The sandbox path is fixed by the container id (<exec-root>/netns/<id>), so the spec
that names it is the same at create and at every start: networking costs no
containerd RPC. Endpoint records are saved before links are made, so a restart finds
what to clean up; a failed setup undoes all of itself before it raises.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from .. import errors
from ..oci.etc_files import container_resolv_conf, embedded_forwarding, rewrite_in_place
from . import legacy_links, links, netns
from .dns import Resolver
from .firewall import BridgeRules, Firewall, Forward
from .ipam import link_local_interfaces
from .links import Plug
from .manager import NetworkManager
from .model import BRIDGE, HOST, NONE, Endpoint, Member, Network
from .names import NameIndex
from .ports import PortHolder, Published, requests_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndpointRequest:
    """What a container asks of its endpoint on a network (NetworkingConfig, connect)."""

    aliases: list[str] = field(default_factory=list)
    ipv4: str = ""
    links: list[str] = field(default_factory=list)  # "name:alias", on user networks
    mac: str = ""
    driver_opts: dict[str, str] = field(default_factory=dict)
    link_local_ips: list[str] = field(default_factory=list)  # checked when plugged in


def shares_namespace(host_config: Mapping[str, Any]) -> bool:
    """host and container:<id> modes live in a namespace that is not the container's own."""
    mode = str(host_config.get("NetworkMode") or "")
    return mode == HOST or mode.startswith("container:")


_SHARED = (
    "container sharing network namespace with another container or host cannot be "
    "connected to any other network"
)
_HOST_CONFLICT = "container cannot be disconnected from host network or connected to host network"
_NONE_CONFLICT = (
    "container cannot be connected to multiple networks with one of the networks in private "
    "(none) mode"
)


def _connect_allowed(
    network: Network,
    container_id: str,
    host_config: Mapping[str, Any],
    running: bool,
    aliases: Sequence[str],
) -> bool:
    """`network connect`'s refusals, in dockerd 20.10's order and words (all 400): a
    container: mode, an alias on a built-in network, a host mode, the host network, none
    beside another network. False: a stopped container already on the network, which
    dockerd leaves as it is (200); a running one gets the 403 of `manager.connect`."""
    mode = str(host_config.get("NetworkMode") or "")
    if mode.startswith("container:"):
        raise errors.InvalidParameter(_SHARED)
    if aliases and not network.user_defined:
        raise errors.InvalidParameter(
            "network-scoped alias is supported only for containers in user defined networks"
        )
    already = container_id in network.members or (network.name == mode and mode in (HOST, NONE))
    if already:
        return running  # running: the 403 `endpoint with name ... already exists`
    if mode == HOST:
        raise errors.InvalidParameter(_SHARED)
    if network.name == HOST:
        raise errors.InvalidParameter(_HOST_CONFLICT)
    if NONE in (mode, network.name):
        raise errors.InvalidParameter(_NONE_CONFLICT)
    return True


class NetworkRuntime:
    def __init__(self, manager: NetworkManager, exec_root: Path, *, enabled: bool) -> None:
        self.manager = manager
        self.enabled = enabled
        self.root = exec_root / "netns"
        # Bridges made or checked since the daemon started: a start skips the check.
        self._bridges_seen: set[str] = set()
        self._bridge_lock = asyncio.Lock()
        self.firewall = Firewall()
        self.ports = PortHolder()
        # Set by the daemon: a container by name or id as a link target, None if none such.
        self.link_target: Callable[[str], legacy_links.Target | None] = lambda ref: None
        # Set by the daemon: the running containers that have links.
        self.link_parents: Callable[[], list[legacy_links.Parent]] = list
        names = NameIndex(manager)
        self.resolver = Resolver(names.lookup, names.reverse, names.external_access)
        # Per-container times of the last setup and teardown (seconds), for the benchmark.
        self.timings: dict[str, list[float]] = {"setup": [], "teardown": []}

    # -- what the spec and inspect need ------------------------------------------------------

    def sandbox_path(self, container_id: str, host_config: Mapping[str, Any]) -> Path | None:
        """Where the container's namespace is bound; None when runc makes it (networking
        off) or the container shares another namespace."""
        if not self.enabled or shares_namespace(host_config):
            return None
        return self.root / container_id

    async def host_routes(self) -> list[IPv4Network]:
        """Route destinations in the daemon's namespace that a default pool must not
        overlap (none with networking off: then the daemon makes no link). In a thread:
        pyroute2's IPRoute cannot open on the loop's thread."""
        if not self.enabled:
            return []
        return await asyncio.to_thread(links.route_destinations)

    def has_endpoints(self, container_id: str) -> bool:
        """Whether the container runs with interfaces of the daemon's (stats show them)."""
        return self.enabled and bool(self.manager.endpoints_of(container_id))

    def primary_endpoint(self, container_id: str) -> tuple[Network, Endpoint] | None:
        found = self.manager.endpoints_of(container_id)
        found.sort(key=lambda pair: pair[1].ifname)
        return found[0] if found else None

    def etc_addresses(self, container_id: str) -> tuple[str, str | None]:
        """The container's address for its /etc/hosts, and the host-gateway address (the
        default bridge's gateway, as dockerd has it)."""
        if not self.enabled:
            return "", None
        primary = self.primary_endpoint(container_id)
        ip = str(primary[1].address) if primary else ""
        try:
            bridge = self.manager.get(BRIDGE)
        except errors.NotFound:
            return ip, None
        return ip, str(bridge.pool.gateway) if bridge.pool else None

    def network_exists(self, ref: str) -> bool:
        return self.manager.exists(ref)

    def embedded_dns(self, container_id: str) -> bool:
        """On a user-defined network: served by the embedded DNS server, as in dockerd."""
        return self.enabled and any(
            network.user_defined for network, _ in self.manager.memberships(container_id)
        )

    # -- legacy links ---------------------------------------------------------------------

    def check_links(self, host_config: MutableMapping[str, Any], name: str) -> None:
        """At create: every --link names an existing container not on the host's network
        (dockerd's 400s); Links is kept as dockerd keeps it, "/child:/parent/alias".
        Links matter on the default bridge only."""
        entries = legacy_links.links_of(host_config)
        mode = str(host_config.get("NetworkMode") or "default")
        if not self.enabled or not entries or mode not in ("default", BRIDGE):
            return
        kept = []
        for entry in entries:
            child_name, alias = legacy_links.parse(entry)
            child = self.link_target(child_name)
            if child is None:
                raise errors.InvalidParameter(
                    f"could not get container for {child_name}: No such container: {child_name}"
                )
            if child.network_mode == HOST:
                raise errors.InvalidParameter(
                    "conflicting options: host type networking can't be used with links. "
                    "This would result in undefined behavior"
                )
            kept.append(legacy_links.stored(child.name, name, alias))
        host_config["Links"] = kept

    def _links(
        self, host_config: Mapping[str, Any], *, strict: bool
    ) -> list[tuple[str, str, legacy_links.Target, str]]:
        """(link name, alias, child, child's address) of each link whose child runs on the
        default bridge; with `strict` any other is dockerd's start error."""
        mode = str(host_config.get("NetworkMode") or "default")
        if not self.enabled or mode not in ("default", BRIDGE):
            return []
        found = []
        for entry in legacy_links.links_of(host_config):
            child_name, alias = legacy_links.parse(entry)
            link_name = entry.partition(":")[2] or alias
            child = self.link_target(child_name)
            if child is None or not child.running:
                if strict:
                    raise errors.SystemError(
                        f"Cannot link to a non running container: /{child_name} AS {link_name}"
                    )
                continue
            endpoint = next(
                (e for n, e in self.manager.endpoints_of(child.id) if n.name == BRIDGE), None
            )
            if endpoint is None:
                if strict:
                    raise errors.InvalidParameter(
                        f"Cannot link to {child.name}, as it does not belong to the default network"
                    )
                continue
            found.append((link_name, alias, child, str(endpoint.address)))
        return found

    async def _update_parents(self, name: str, address: str) -> None:
        """A container that started on the default bridge: the running containers linked
        to it get its address in their /etc/hosts (in place: it is bound into them)."""
        child = name.lstrip("/")
        for parent in self.link_parents():
            for entry in parent.links:
                child_name, alias = legacy_links.parse(entry)
                if child_name != child:
                    continue
                try:
                    content = await asyncio.to_thread(Path(parent.hosts_path).read_text)
                    updated = legacy_links.updated_hosts(content, alias, address)
                    if updated != content:
                        await asyncio.to_thread(rewrite_in_place, parent.hosts_path, updated)
                except OSError as exc:
                    log.error("updating %s for link %s: %s", parent.hosts_path, entry, exc)

    def legacy_links(self, host_config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        hosts: list[str] = []
        env: list[str] = []
        for link_name, alias, child, ip in self._links(host_config, strict=False):
            hosts.append(legacy_links.hosts_entry(alias, child, ip))
            env += legacy_links.environment(link_name, alias, ip, child)
        return hosts, env

    # -- create: NetworkingConfig ---------------------------------------------------------

    def endpoint_request(
        self,
        host_config: Mapping[str, Any],
        endpoints: Mapping[str, Any] | None,
        mac_address: str = "",
    ) -> EndpointRequest:
        """The aliases, IPv4 address and links that NetworkingConfig.EndpointsConfig asks
        for on the NetworkMode's network, checked before the container is made (dockerd's
        400s). On a user network HostConfig.Links count too (names the embedded DNS
        server resolves for this container only)."""
        mode = str(host_config.get("NetworkMode") or "default")
        user_network = mode not in ("default", BRIDGE, HOST, "none") and not mode.startswith(
            "container:"
        )
        if not self.enabled:
            return EndpointRequest()
        if endpoints and len(endpoints) > 1:
            # Before API 1.44 a container is made on one network; connect adds the others.
            names = ", ".join(endpoints)
            raise errors.InvalidParameter(
                f"Container cannot be connected to network endpoints: {names}"
            )
        entry = (endpoints or {}).get(mode) or (endpoints or {}).get(
            BRIDGE if mode == "default" else mode
        )
        if not isinstance(entry, Mapping):
            entry = {}
        links = [str(e) for e in entry.get("Links") or legacy_links.links_of(host_config)]
        for link in links:
            legacy_links.parse(link)  # dockerd's 400 for a bad format
        aliases = [str(a) for a in entry.get("Aliases") or []]
        ipam = entry.get("IPAMConfig") or {}
        if not isinstance(ipam, Mapping):
            ipam = {}
        ipv4 = str(ipam.get("IPv4Address") or "")
        # Kept as given on any network, the default bridge too; dockerd checks them only
        # when the endpoint is made (`_join`).
        link_local = [str(ip) for ip in ipam.get("LinkLocalIPs") or []]
        if ipv4 and not user_network:
            raise errors.InvalidParameter(
                "user specified IP address is supported on user defined networks only"
            )
        if aliases and not user_network:
            raise errors.InvalidParameter(
                "network-scoped alias is supported only for containers in user defined networks"
            )
        if ipv4:
            self.manager.check_address(self.manager.get(mode), ipv4)
        # Config.MacAddress is for the NetworkMode's network, as the endpoint's own.
        mac = str(entry.get("MacAddress") or mac_address or "")
        options = entry.get("DriverOpts") or {}
        driver_opts = (
            {str(k): str(v) for k, v in options.items()} if isinstance(options, Mapping) else {}
        )
        return EndpointRequest(
            aliases, ipv4, links if user_network else [], mac, driver_opts, link_local
        )

    # -- create and remove ---------------------------------------------------------------

    def container_created(
        self,
        container_id: str,
        name: str,
        host_config: Mapping[str, Any],
        endpoint: EndpointRequest | None = None,
    ) -> None:
        """The container becomes a member of the network its NetworkMode names, with the
        aliases, address and links `endpoint_request` read."""
        if not self.enabled:
            return
        network = self.manager.network_for_mode(str(host_config.get("NetworkMode") or ""))
        if network is not None:
            wanted = endpoint or EndpointRequest()
            self.manager.connect(
                network.id,
                container_id,
                name,
                wanted.aliases,
                wanted.ipv4,
                wanted.links,
                wanted.mac,
                wanted.driver_opts,
                wanted.link_local_ips,
            )

    # -- the firewall's state ------------------------------------------------------------

    def _bridge_rules(self) -> list[BridgeRules]:
        return [
            BridgeRules(n.device, n.pool.subnet, n.internal)
            for n in self.manager.networks()
            if n.driver == BRIDGE and n.pool is not None
        ]

    def _forwards(self, endpoint: Endpoint) -> list[Forward]:
        return [Forward(entry, endpoint.address) for entry in endpoint.ports]

    async def rebuild_rules(self) -> None:
        """Our nftables table, exactly as the saved state says (one transaction)."""
        if not self.enabled:
            return
        forwards = [
            forward
            for network in self.manager.networks()
            for endpoint in network.endpoints.values()
            for forward in self._forwards(endpoint)
        ]
        await self.firewall.rebuild(self._bridge_rules(), forwards)

    async def restore(self, host_configs: Mapping[str, Mapping[str, Any]]) -> None:
        """After the daemon's restore: hold the running containers' ports again, rebuild
        the rules from the saved state, and serve the embedded DNS of those on user
        networks again (its sockets died with the previous daemon). `host_configs`: the
        HostConfig of every container, by id."""
        if not self.enabled:
            return
        serve: set[str] = set()
        for network in self.manager.networks():
            for endpoint in network.endpoints.values():
                self.ports.adopt(endpoint.ports)
                if network.user_defined:
                    serve.add(endpoint.container_id)
        try:
            await self.rebuild_rules()
        except errors.DaemonError as exc:
            log.error("cannot set up the firewall rules: %s", exc)
        for container_id in sorted(serve):
            path = self.root / container_id
            host_config = host_configs.get(container_id)
            if host_config is None or not path.exists():
                continue
            try:
                sockets = await netns.run_in_own_thread(partial(links.listen_in, path))
                await self.resolver.serve(container_id, sockets, embedded_forwarding(host_config))
            except Exception as exc:
                log.error("embedded DNS of %s not restored: %s", container_id[:12], exc)

    async def remove_bridge(self, network: Network) -> None:
        """A removed network's bridge goes (ours: made for it) and the rules follow."""
        if not self.enabled or network.driver != BRIDGE:
            return
        self._bridges_seen.discard(network.device)
        try:
            await asyncio.to_thread(links.remove_link, network.device)
            await self.rebuild_rules()
        except Exception as exc:
            log.error("removing the bridge of network %s: %s", network.name, exc)

    # -- connect and disconnect ----------------------------------------------------------

    async def connect(
        self,
        ref: str,
        container_id: str,
        name: str,
        host_config: Mapping[str, Any],
        *,
        running: bool,
        aliases: list[str],
        ipv4: str,
        linked: list[str] | None = None,
        resolv_conf: Path | None = None,
        mac: str = "",
        driver_opts: Mapping[str, str] | None = None,
        link_local_ips: list[str] | None = None,
    ) -> None:
        """`docker network connect`: a member now, and plugged in now if it runs. A running
        container's first user network starts its embedded DNS server and points its
        resolv.conf (`resolv_conf`, the file bound into it) there, as dockerd does."""
        network = self.manager.get(ref)
        if not _connect_allowed(network, container_id, host_config, running, aliases):
            return  # a stopped member keeps the settings it has, as in dockerd (200)
        for link in linked or []:
            legacy_links.parse(link)  # dockerd's 400 for a bad format
        network = self.manager.connect(
            ref,
            container_id,
            name,
            aliases,
            ipv4,
            linked or [],
            mac,
            driver_opts,
            link_local_ips or [],
        )
        path = self.sandbox_path(container_id, host_config)
        if not running or path is None:
            return
        member = network.members[container_id]
        taken = {e.ifname for _, e in self.manager.endpoints_of(container_id)}
        ifname = next(f"eth{n}" for n in range(len(taken) + 1) if f"eth{n}" not in taken)
        listen = network.user_defined and not self.resolver.serving(container_id)
        started_dns = False
        try:
            await self._ensure_bridges([network])
            plug = self._join(network, member, ifname)
            sockets = await netns.run_in_own_thread(
                lambda: links.plug_into(path, plug, listen_dns=listen)
            )
            if sockets is not None:
                await self.resolver.serve(container_id, sockets, embedded_forwarding(host_config))
                started_dns = True
                if resolv_conf is not None:
                    content = container_resolv_conf(host_config, embedded_dns=True)
                    await asyncio.to_thread(rewrite_in_place, str(resolv_conf), content)
        except BaseException as exc:
            if started_dns:  # (one that served before this connect keeps serving)
                await self.resolver.stop(container_id)
            await self._unplug(network, container_id)
            self.manager.disconnect(network.id, container_id)
            if isinstance(exc, Exception) and not isinstance(exc, errors.DaemonError):
                raise errors.SystemError(f"failed to connect to {network.name}: {exc}") from exc
            raise

    async def disconnect(
        self,
        ref: str,
        container_id: str,
        *,
        running: bool = True,
        force: bool = False,
        mode: str = "",
    ) -> None:
        """`docker network disconnect` (`mode`: the container's NetworkMode), with dockerd's
        answers: a running container must be on the network (500 `... not connected to
        network N`); a stopped one, or a forced disconnect from a network that does not
        exist, is judged by the container's own settings, where a removed network's kept
        membership counts (500 `... not connected to the network N`, N the network's name
        if it exists, else as given)."""
        try:
            network: Network | None = self.manager.get(ref)
        except errors.NotFound:
            if running and not force:
                raise
            network = None
        if network is not None and network.name == mode and mode in (HOST, NONE):
            # The mode's own network: never a membership here. dockerd refuses to take a
            # running container off the host's, and lets go of none (200).
            if running and mode == HOST:
                raise errors.InvalidParameter(_HOST_CONFLICT)
            return
        if running and network is not None:
            if container_id in network.endpoints:
                await self._unplug(network, container_id)
            self.manager.disconnect(network.id, container_id)
            return
        name = network.name if network is not None else ref
        if network is not None and container_id in network.members:
            self.manager.disconnect(network.id, container_id)
        elif not self.manager.forget_removed(container_id, name):
            raise errors.SystemError(
                f"container {container_id} is not connected to the network {name}"
            )

    async def _unplug(self, network: Network, container_id: str) -> None:
        endpoint = network.endpoints.get(container_id)
        if endpoint is not None:
            await asyncio.to_thread(links.remove_link, endpoint.host_ifname)
            self.manager.leave(network, container_id)

    # -- start and exit ------------------------------------------------------------------

    async def setup(
        self,
        container_id: str,
        name: str,
        config: Mapping[str, Any],
        host_config: Mapping[str, Any],
    ) -> None:
        """Make the sandbox, plug in one endpoint per network the container is on, and
        publish its ports (held before any link is made, so a taken port fails early;
        whatever was done is undone before the error is raised)."""
        path = self.sandbox_path(container_id, host_config)
        if path is None:
            return
        # A network removed while the container was stopped (its NetworkMode's, or one it was
        # connected to) fails the start with dockerd's 404 until the container lets it go
        # (network disconnect) or, if it never started on it, one of that name is back. Like
        # dockerd, only the memberships count: NetworkMode alone names no network here.
        self.manager.rejoin_removed(container_id)
        self._links(host_config, strict=True)  # linked containers must run (dockerd's error)
        started = time.perf_counter()
        await self.teardown(container_id, timed=False)  # what a crash may have left
        members = self.manager.memberships(container_id)
        requests = requests_of(config, host_config) if members else []
        held: list[Published] = []
        try:
            plugs = [
                self._join(network, member, f"eth{number}")
                for number, (network, member) in enumerate(members)
            ]
            if requests:
                primary = self.primary_endpoint(container_id)
                assert primary is not None
                endpoint_id = primary[1].endpoint_id
                held = self.ports.hold(requests, f"{name.lstrip('/')} ({endpoint_id})")
            await self._ensure_bridges([network for network, _ in members])
            listen = any(network.user_defined for network, _ in members)
            sockets = await netns.run_in_own_thread(
                lambda: links.make_sandbox(path, plugs, listen_dns=listen)
            )
            if sockets is not None:
                await self.resolver.serve(container_id, sockets, embedded_forwarding(host_config))
            if held:
                primary = self.primary_endpoint(container_id)
                assert primary is not None
                network, endpoint = primary
                endpoint.ports = held
                self.manager.store.save(network, durable=False)
                await self.firewall.publish(self._forwards(endpoint))
        except BaseException as exc:
            self.ports.release(held)
            self._bridges_seen.clear()  # a bridge deleted under us is made again next time
            await self.teardown(container_id, timed=False)
            if isinstance(exc, Exception) and not isinstance(exc, errors.DaemonError):
                raise errors.SystemError(f"failed to set up container networking: {exc}") from exc
            raise
        self.timings["setup"].append(time.perf_counter() - started)
        on_bridge = [e for n, e in self.manager.endpoints_of(container_id) if n.name == BRIDGE]
        if on_bridge:
            await self._update_parents(name, str(on_bridge[0].address))

    async def _ensure_bridges(self, networks: list[Network]) -> None:
        """The networks' bridges made (or checked) once per daemon run, and the rules
        rebuilt to know them before any traffic flows. One start at a time does it: a
        concurrent start on the same new network waits rather than plugging into a
        bridge not made yet."""
        if all(network.device in self._bridges_seen for network in networks):
            return
        async with self._bridge_lock:
            missing = [n for n in networks if n.device not in self._bridges_seen]
            if not missing:
                return
            bridges = [(n.device, n.pool.gateway, n.pool.prefix_len) for n in missing if n.pool]
            await asyncio.to_thread(links.ensure_bridges, bridges)
            self._bridges_seen.update(network.device for network in missing)
            try:
                await self.rebuild_rules()
            except BaseException:
                self._bridges_seen.difference_update(network.device for network in missing)
                raise

    def _join(self, network: Network, member: Member, ifname: str) -> Plug:
        """An endpoint (address, MAC, names; saved) and the links that will carry it."""
        pool = network.pool
        if network.driver != BRIDGE or pool is None:
            raise errors.SystemError(f"network {network.name} has no bridge")
        link_local = link_local_interfaces(member.link_local_ips)  # before anything is made
        endpoint = self.manager.join(network, member, ifname)
        return Plug(
            bridge=network.device,
            prefix_len=pool.prefix_len,
            host_ifname=endpoint.host_ifname,
            ifname=endpoint.ifname,
            address=endpoint.address,
            mac=endpoint.mac,
            gateway=None if network.internal else pool.gateway,
            link_local=tuple(link_local),
        )

    async def teardown(self, container_id: str, *, timed: bool = True) -> None:
        """Release the endpoints and unbind the sandbox. The veth pairs go with the
        namespace: the kernel destroys it once the container's last process is gone.
        Never raises: what cannot be undone now is logged (and retried at next start)."""
        started = time.perf_counter()
        try:
            await self.resolver.stop(container_id)
            for network, endpoint in self.manager.endpoints_of(container_id):
                if endpoint.ports:
                    self.ports.release(endpoint.ports)
                    await self.firewall.unpublish(self._forwards(endpoint))
                self.manager.leave(network, container_id)
            # A str path: teardown runs twice a lifecycle (exit, removal), mostly for
            # a container without a namespace of its own (issue 13).
            path = os.path.join(self.root, container_id)
            if os.path.exists(path):  # noqa: ASYNC240 -- one stat, as Path.exists was
                await asyncio.to_thread(netns.remove, path)
        except Exception as exc:
            log.error("network teardown of %s: %s", container_id[:12], exc)
            return
        if timed:
            self.timings["teardown"].append(time.perf_counter() - started)

    async def close(self) -> None:
        """Links, bridges, endpoints and rules stay: containers outlive the daemon (live
        restore); the port and DNS sockets close with the process and are made again at
        start."""
        await self.resolver.close()
        self.ports.close()
