"""The networks of the daemon: the predefined bridge, host and none, user-defined bridge
networks, their endpoints, and the rules dockerd applies to creating, finding,
connecting and removing them. Every change is saved before it is reported."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, ip_interface

from .. import errors
from ..filters import FilterMap, match_exact, match_kv, prune_labels_match, prune_until
from ..timefmt import now_rfc3339_nano, parse_rfc3339
from .ipam import (
    DEFAULT_POOLS,
    POOL_OVERLAP,
    Pool,
    mac_for,
    parse_address,
    parse_subnet,
    pick_subnet,
)
from .model import (
    BRIDGE,
    DEFAULT_BRIDGE_OPTIONS,
    HOST,
    NONE,
    PREDEFINED,
    Endpoint,
    Member,
    Network,
)
from .store import NetworkStore

log = logging.getLogger(__name__)

LIST_FILTERS = frozenset({"dangling", "driver", "id", "label", "name", "scope", "type"})
PRUNE_FILTERS = frozenset({"label", "label!", "until"})
DRIVERS = (BRIDGE,)  # what a user may create; host and null exist once each

# (kind, action, actor id, attributes), as the daemon's event sink takes them.
EventSink = Callable[[str, str, str, dict[str, str]], None]


@dataclass
class IPAMRequest:
    """One entry of IPAM.Config in a create request."""

    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    aux_addresses: dict[str, str] = field(default_factory=dict)


@dataclass
class CreateRequest:
    name: str
    driver: str = BRIDGE
    ipam: list[IPAMRequest] = field(default_factory=list)
    ipam_driver: str = ""
    ipam_options: dict[str, str] | None = None
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def _new_id() -> str:
    return secrets.token_hex(32)


def _regex_match(values: Sequence[str], source: str) -> bool:
    """dockerd's `Match` for name and id: a value equals `source` or is a pattern found in it."""
    for value in values:
        if value == source:
            return True
        try:
            if re.search(value, source):
                return True
        except re.error:
            continue
    return False


@dataclass(frozen=True)
class AddressDefaults:
    """dockerd's daemon options for addresses: `bip` (the default bridge's gateway and
    subnet, "10.1.0.1/24"), `fixed_cidr` (the part of it containers get addresses from)
    and `pools` (default-address-pools: where networks without a subnet get theirs)."""

    bip: str = ""
    fixed_cidr: str = ""
    pools: tuple[tuple[str, int], ...] = DEFAULT_POOLS


class NetworkManager:
    def __init__(self, store: NetworkStore, emit: EventSink) -> None:
        self.store = store
        self._emit = emit
        self._by_id: dict[str, Network] = {}
        # container id -> network name -> its membership of that network, removed while the
        # container was stopped. dockerd's container keeps such a network in its settings by
        # name: its start is a 404 until a network of that name exists again, then joins it.
        self._removed: dict[str, dict[str, Member]] = {}
        # Set by the composition root before load().
        self.address_defaults = AddressDefaults()

    def _default_bridge_pool(self, host_routes: Sequence[IPv4Network] = ()) -> Pool:
        wanted = self.address_defaults
        others = [n.pool.subnet for n in self._by_id.values() if n.pool and n.name != BRIDGE]
        if wanted.bip:
            bip = ip_interface(wanted.bip)
            return Pool.configure(IPv4Network(bip.network), str(bip.ip), wanted.fixed_cidr)
        if wanted.fixed_cidr:
            return Pool.configure(parse_subnet(wanted.fixed_cidr), "", wanted.fixed_cidr)
        return Pool.configure(pick_subnet([*others, *host_routes], wanted.pools))

    # -- start-up ----------------------------------------------------------------------

    def load(self, host_routes: Sequence[IPv4Network] = ()) -> None:
        """The saved networks; the predefined ones are made (and saved) on first start,
        `bridge` on the first default pool that overlaps none of `host_routes`."""
        for network in self.store.load():
            self._by_id[network.id] = network
        self._removed = self.store.load_removed()
        names = {n.name for n in self._by_id.values()}
        if BRIDGE not in names:
            pool = self._default_bridge_pool(host_routes)
            bridge = Network(_new_id(), BRIDGE, BRIDGE, now_rfc3339_nano(), pool=pool)
            bridge.options = dict(DEFAULT_BRIDGE_OPTIONS)
            self._add(bridge)
        else:
            self._readdress_default_bridge()
        if HOST not in names:
            self._add(Network(_new_id(), HOST, HOST, now_rfc3339_nano()))
        if NONE not in names:
            self._add(Network(_new_id(), NONE, "null", now_rfc3339_nano()))

    def _readdress_default_bridge(self) -> None:
        """A bip or fixed-cidr that changed since the default bridge was made applies now,
        as dockerd makes its bridge from the options at every start; not while containers
        still have addresses on it (they outlived the daemon)."""
        wanted = self.address_defaults
        if not (wanted.bip or wanted.fixed_cidr):
            return
        bridge = self.get(BRIDGE)
        pool = self._default_bridge_pool()
        current = bridge.pool
        if current is not None and (current.subnet, current.gateway, current.ip_range) == (
            pool.subnet,
            pool.gateway,
            pool.ip_range,
        ):
            return
        if bridge.endpoints:
            log.warning(
                "bip/fixed-cidr changed: the default bridge keeps %s while %d containers are on it",
                current.subnet if current else "",
                len(bridge.endpoints),
            )
            return
        log.info("default bridge: %s, gateway %s (bip/fixed-cidr)", pool.subnet, pool.gateway)
        bridge.pool = pool
        self.store.save(bridge)

    def _add(self, network: Network) -> None:
        self.store.save(network)
        self._by_id[network.id] = network

    def _subnets(self) -> list[IPv4Network]:
        return [n.pool.subnet for n in self._by_id.values() if n.pool is not None]

    def _event(self, network: Network, action: str, **extra: str) -> None:
        attributes = {"name": network.name, "type": network.driver, **extra}
        self._emit("network", action, network.id, attributes)

    # -- lookups -----------------------------------------------------------------------

    def networks(self) -> list[Network]:
        return sorted(self._by_id.values(), key=lambda n: n.name)

    def get(self, ref: str) -> Network:
        """By full id, then by name, then by unique id prefix, as dockerd looks them up."""
        if ref in self._by_id:
            return self._by_id[ref]
        for network in self._by_id.values():
            if network.name == ref:
                return network
        matches = [n for n in self._by_id.values() if ref and n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise errors.NotFound(
                f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)"
            )
        raise errors.NotFound(f"network {ref} not found")

    def listing(self, filters: FilterMap) -> list[Network]:
        """`GET /networks` with dockerd's filters."""
        for key in sorted(filters):
            if key not in LIST_FILTERS:
                raise errors.InvalidParameter(f"Invalid filter '{key}'")
        for kind in sorted(filters.get("type") or ()):
            if kind not in ("custom", "builtin"):
                raise errors.InvalidParameter(f"Invalid filter: 'type'='{kind}'")
        dangling: bool | None = None
        if filters.get("dangling"):
            values = set(filters["dangling"])
            if values <= {"true", "1"}:
                dangling = True
            elif values <= {"false", "0"}:
                dangling = False
            else:
                raise errors.InvalidParameter(f"Invalid filter 'dangling={sorted(values)[0]}'")
        found = []
        for network in self.networks():
            if filters.get("name") and not _regex_match(sorted(filters["name"]), network.name):
                continue
            if filters.get("id") and not _regex_match(sorted(filters["id"]), network.id):
                continue
            if not match_exact(filters, "driver", network.driver):
                continue
            if not match_exact(filters, "scope", "local"):
                continue
            if not match_kv(filters, "label", network.labels):
                continue
            kinds = filters.get("type")
            if kinds and ("builtin" if network.predefined else "custom") not in kinds:
                continue
            if dangling is not None:
                unused = not network.endpoints and not network.predefined
                if unused != dangling:
                    continue
            found.append(network)
        return found

    # -- create, remove, prune -----------------------------------------------------------

    def create(self, request: CreateRequest, host_routes: Sequence[IPv4Network] = ()) -> Network:
        """A new network; a subnet picked from the default pools overlaps none of the
        networks' and none of `host_routes` (a subnet asked for is not checked against
        those, as with dockerd)."""
        name = request.name
        if not name:
            raise errors.InvalidParameter("network name cannot be empty")
        if name in PREDEFINED:
            raise errors.Forbidden(f"operation is not permitted on predefined {name} network ")
        driver = request.driver or BRIDGE
        if driver in (HOST, "null"):
            raise errors.Forbidden(f'only one instance of "{driver}" network is allowed')
        if driver not in DRIVERS:
            raise errors.NotFound(f'plugin "{driver}" not found')
        if request.enable_ipv6:
            raise errors.InvalidParameter("moorage supports IPv4 networks only")
        if any(n.name == name for n in self._by_id.values()):
            raise errors.Conflict(f"network with name {name} already exists")
        if (request.ipam_driver or "default") != "default":
            raise errors.NotFound(f'plugin "{request.ipam_driver}" not found')
        pool = self._pool_for(name, request.ipam, host_routes)
        device = request.options.get("com.docker.network.bridge.name")
        if device is not None:
            if not device or len(device) > 15 or "/" in device or device.strip() != device:
                raise errors.InvalidParameter(f"invalid bridge name: {device!r}")
            if any(n.driver == BRIDGE and n.device == device for n in self._by_id.values()):
                raise errors.Conflict(f"bridge name {device} is already in use")
        network = Network(
            _new_id(),
            name,
            driver,
            now_rfc3339_nano(),
            pool=pool,
            internal=request.internal,
            attachable=request.attachable,
            options=dict(request.options),
            labels=dict(request.labels),
            ipam_driver=request.ipam_driver or "default",
            ipam_options=dict(request.ipam_options) if request.ipam_options else None,
            ipam_configured=bool(request.ipam),
        )
        self._add(network)
        self._event(network, "create")
        return network

    def _pool_for(
        self, name: str, configs: list[IPAMRequest], host_routes: Sequence[IPv4Network]
    ) -> Pool:
        if len(configs) > 1:
            raise errors.InvalidParameter("moorage supports one IPv4 subnet per network")
        config = configs[0] if configs else IPAMRequest()
        if not config.subnet:
            if config.gateway or config.ip_range:
                raise errors.InvalidParameter(
                    "every ip-range or gateway must have a corresponding subnet"
                )
            in_use = [*self._subnets(), *host_routes]
            picked = pick_subnet(in_use, self.address_defaults.pools)
            return Pool.configure(picked, aux=config.aux_addresses, network=name)
        subnet = parse_subnet(config.subnet)
        if any(subnet.overlaps(other) for other in self._subnets()):
            raise errors.Forbidden(POOL_OVERLAP)
        return Pool.configure(
            subnet, config.gateway, config.ip_range, config.aux_addresses, network=name
        )

    def remove(self, ref: str) -> None:
        network = self.get(ref)
        if network.predefined:
            raise errors.Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
        if network.endpoints:
            raise errors.Forbidden(
                f"error while removing network: network {network.name} id {network.id} "
                "has active endpoints"
            )
        # No endpoint is active: its members are stopped, and keep the network by name.
        for member in network.members.values():
            kept = self._removed.setdefault(member.container_id, {})
            kept[network.name] = member
            self.store.save_removed(member.container_id, kept)
        self.store.delete(network)
        self._by_id.pop(network.id, None)
        self._event(network, "destroy")

    def prune(self, filters: FilterMap) -> list[str]:
        """Remove the user networks no container uses that match `filters`; their names."""
        for key in sorted(filters):
            if key not in PRUNE_FILTERS:
                raise errors.InvalidParameter(f"Invalid filter '{key}'")
        until = prune_until(filters, errors.InvalidParameter)
        deleted: list[str] = []
        for network in self.networks():
            if network.predefined or network.endpoints:
                continue
            if until is not None:
                stamp = parse_rfc3339(network.created)
                if stamp is not None and stamp.seconds > until:
                    continue
            if not prune_labels_match(filters, network.labels):
                continue
            self.remove(network.id)
            deleted.append(network.name)
        self._emit("network", "prune", "", {})
        return deleted

    # -- members and endpoints ------------------------------------------------------------

    def network_for_mode(self, mode: str) -> Network | None:
        """The network a container's NetworkMode puts it on (None: host, none, container:)."""
        if mode in ("", "default"):
            mode = BRIDGE
        if mode in (HOST, NONE) or mode.startswith("container:"):
            return None
        return self.get(mode)

    def exists(self, ref: str) -> bool:
        try:
            self.get(ref)
        except errors.NotFound:
            return False
        return True

    def connect(
        self,
        ref: str,
        container_id: str,
        container_name: str,
        aliases: Sequence[str] = (),
        ipv4: str = "",
        links: Sequence[str] = (),
        mac: str = "",
        driver_opts: Mapping[str, str] | None = None,
        link_local_ips: Sequence[str] = (),
    ) -> Network:
        """Make the container a member of the network (its endpoint comes at start)."""
        network = self.get(ref)
        container_name = container_name.lstrip("/")  # endpoints are named without the slash
        if container_id in network.members or network.name in (HOST, NONE):
            raise errors.Forbidden(
                f"endpoint with name {container_name} already exists in network {network.name}"
            )
        self.check_address(network, ipv4)
        member = Member(
            container_id,
            container_name,
            list(aliases),
            ipv4,
            time.time_ns(),
            list(links),
            mac,
            dict(driver_opts or {}),
            list(link_local_ips),
        )
        network.members[container_id] = member
        try:
            self.store.save(network)
        except BaseException:
            network.members.pop(container_id, None)
            raise
        self._event(network, "connect", container=container_id)
        return network

    def check_address(self, network: Network, ipv4: str) -> None:
        """A user-chosen IPv4 address must suit the network (dockerd's texts)."""
        if not ipv4:
            return
        if network.name == BRIDGE:
            raise errors.InvalidParameter(
                "user specified IP address is supported on user defined networks only"
            )
        if not network.ipam_configured or network.pool is None:
            raise errors.InvalidParameter(
                "user specified IP address is supported only when connecting to networks "
                "with user configured subnets"
            )
        if parse_address(ipv4) not in network.pool.subnet:
            raise errors.InvalidParameter(
                f"Invalid address {ipv4}: It does not belong to any of this network's subnets"
            )

    def disconnect(self, ref: str, container_id: str) -> Network:
        """End the membership; the caller has taken down a running container's endpoint."""
        network = self.get(ref)
        if container_id not in network.members:
            raise errors.SystemError(
                f"container {container_id} is not connected to network {network.name}"
            )
        network.members.pop(container_id, None)
        self._release(network, container_id)
        self.store.save(network)
        self._event(network, "disconnect", container=container_id)
        return network

    def rejoin_removed(self, container_id: str) -> None:
        """At start: the networks removed while the container was stopped must exist again
        (dockerd's 404 `network <name or id> not found` otherwise, and nothing changes);
        the container is then a member of each as it was of the removed one. Only one it
        never started on can be back (by name): the others are looked up by their old id."""
        kept = self._removed.get(container_id)
        if not kept:
            return
        # By the id it had at the container's last start, as dockerd: then a new network of
        # the same name is not the one (dockerd's 404 names that id).
        found = [(self.get(member.network_id or name), member) for name, member in kept.items()]
        for network, member in found:
            if container_id not in network.members:
                network.members[container_id] = member
                self.store.save(network)
        del self._removed[container_id]
        self.store.save_removed(container_id, {})

    def forget_removed(self, container_id: str, name: str) -> bool:
        """`network disconnect` of a network removed while the container was stopped: the
        container keeps it no more (dockerd's 200, and its start no longer fails for it).
        False if the container kept no network of that name."""
        kept = self._removed.get(container_id)
        if not kept or kept.pop(name, None) is None:
            return False
        if not kept:
            del self._removed[container_id]
        self.store.save_removed(container_id, kept)
        return True

    def kept(self, container_id: str) -> list[tuple[str, Member]]:
        """Its memberships of networks removed while it was stopped, by network name."""
        return list(self._removed.get(container_id, {}).items())

    def memberships(self, container_id: str) -> list[tuple[Network, Member]]:
        """The networks a container is configured on, in the order it joined them."""
        found = [(n, n.members[container_id]) for n in self.networks() if container_id in n.members]
        found.sort(key=lambda pair: pair[1].joined)
        return found

    def endpoints_of(self, container_id: str) -> list[tuple[Network, Endpoint]]:
        return [
            (n, n.endpoints[container_id]) for n in self.networks() if container_id in n.endpoints
        ]

    def join(self, network: Network, member: Member, ifname: str) -> Endpoint:
        """An endpoint with an address for a member that starts (saved before returned)."""
        assert network.pool is not None
        address = network.pool.allocate(member.wanted_address)
        endpoint = Endpoint(
            container_id=member.container_id,
            endpoint_id=_new_id(),
            address=address,
            mac=member.wanted_mac or mac_for(address),
            ifname=ifname,
            host_ifname="veth" + secrets.token_hex(4)[:7],
        )
        network.endpoints[member.container_id] = endpoint
        member.network_id = network.id
        try:
            self.store.save(network, durable=False)
        except BaseException:
            self._release(network, member.container_id)
            raise
        return endpoint

    def leave(self, network: Network, container_id: str) -> None:
        if self._release(network, container_id):
            self.store.save(network, durable=False)

    def _release(self, network: Network, container_id: str) -> bool:
        endpoint = network.endpoints.pop(container_id, None)
        if endpoint is None:
            return False
        if network.pool is not None:
            network.pool.release(endpoint.address)
        return True

    def container_removed(self, container_id: str) -> None:
        """A container is gone: its memberships and endpoints go, addresses are free."""
        if self._removed.pop(container_id, None) is not None:
            self.store.save_removed(container_id, {})
        for network in self.networks():
            had_member = network.members.pop(container_id, None) is not None
            if self._release(network, container_id) or had_member:
                self.store.save(network)

    def container_renamed(self, container_id: str, name: str) -> None:
        for network, member in self.memberships(container_id):
            member.container_name = name.lstrip("/")
            self.store.save(network)
        if kept := self._removed.get(container_id):
            for member in kept.values():
                member.container_name = name.lstrip("/")
            self.store.save_removed(container_id, kept)
