"""Links and addresses over netlink with pyroute2's IPRoute: bridges in the daemon's
own namespace, and veth pairs from a bridge into a container's namespace with the
container's address, MAC, default route and loopback.

Blocking calls, run off the loop: pyroute2's AsyncIPRoute cannot open its netlink
socket on uvloop (the daemon's loop), while IPRoute in a thread costs about 0.4 ms to
open and well under 1 ms per request. Functions that change namespace run in a
thread of their own (`netns.run_in_own_thread`).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Interface
from pathlib import Path
from typing import TYPE_CHECKING

from . import dns, netns

if TYPE_CHECKING:
    from pyroute2 import IPRoute

# The embedded DNS server's sockets, bound inside the namespace (None: not wanted).
Listeners = tuple[socket.socket, socket.socket] | None


@dataclass(frozen=True)
class Plug:
    """One endpoint's links: `host_ifname` on `bridge`, `ifname` in the container."""

    bridge: str  # made beforehand (`ensure_bridges`)
    prefix_len: int
    host_ifname: str
    ifname: str
    address: IPv4Address
    mac: str
    gateway: IPv4Address | None  # None: no route out (an Internal network)
    # IPAMConfig.LinkLocalIPs: more addresses of the interface, as dockerd 20.10 adds them.
    link_local: tuple[IPv4Interface | IPv6Interface, ...] = ()


def _iproute() -> IPRoute:
    """pyroute2 is imported when a link is first made, not with the daemon: it was a
    fifth of mooraged's start-up and 22 MB of its memory (issue 13), for a daemon that
    may never make a link (`--bridge none`, containers on no network)."""
    from pyroute2 import IPRoute

    return IPRoute()


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _tolerate(code: int, call: object, *args: object, **kwargs: object) -> None:
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        call(*args, **kwargs)  # type: ignore[operator]
    except NetlinkError as exc:
        if exc.code != code:
            raise


def _sysctl(path: str, value: str) -> None:
    # /proc/sys/net is the calling thread's namespace: call before it leaves the daemon's.
    with open(path, "r+") as f:
        if f.read().strip() != value:
            f.seek(0)
            f.write(value)


def ensure_bridge(host: IPRoute, name: str, gateway: IPv4Address, prefix_len: int) -> int:
    """The bridge `name`, up, with the gateway address, route_localnet on (published
    ports answer on 127.0.0.1) and forwarding on in the daemon's namespace; its index.
    Call from a thread in the daemon's namespace."""
    index = _index(host, name)
    if index is None:
        # EEXIST: made meanwhile by a concurrent start.
        _tolerate(errno.EEXIST, host.link, "add", ifname=name, kind="bridge")
        index = _index(host, name)
        assert index is not None
    # An address of an earlier configuration (bip changed while the daemon was down) goes.
    for message in host.get_addr(index=index, family=socket.AF_INET):
        address, length = message.get_attr("IFA_ADDRESS"), message["prefixlen"]
        if (address, length) != (str(gateway), prefix_len):
            _tolerate(
                errno.EADDRNOTAVAIL, host.addr, "del", index=index, address=address,
                prefixlen=length,
            )  # fmt: skip
    _tolerate(
        errno.EEXIST, host.addr, "add", index=index, address=str(gateway), prefixlen=prefix_len
    )
    host.link("set", index=index, state="up")
    _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
    _sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    return index


def route_destinations() -> list[IPv4Network]:
    """The destinations of the IPv4 routes of the main table in the calling thread's
    namespace (the default route has none). dockerd passes over a default pool that one
    of them overlaps: in a container whose own network is 172.18.0.0/16, a new network
    must not get that subnet too."""
    main_table = 254
    found = []
    with _iproute() as host:
        for route in host.get_routes(family=socket.AF_INET, table=main_table):
            destination = route.get_attr("RTA_DST")
            if destination is not None:
                found.append(IPv4Network(f"{destination}/{route['dst_len']}", strict=False))
    return found


def _loopback_up(inner: IPRoute) -> None:
    index = _index(inner, "lo")
    if index is not None:
        inner.link("set", index=index, state="up")


def ensure_bridges(bridges: Sequence[tuple[str, IPv4Address, int]]) -> None:
    """`ensure_bridge` for each (name, gateway, prefix length). Blocking, from a thread
    in the daemon's namespace."""
    with _iproute() as host:
        for name, gateway, prefix_len in bridges:
            ensure_bridge(host, name, gateway, prefix_len)


def _plug(host: IPRoute, inner: IPRoute, path: Path, plug: Plug) -> None:
    bridge = _index(host, plug.bridge)
    if bridge is None:
        raise OSError(errno.ENODEV, f"bridge {plug.bridge} is gone")
    ns_fd = os.open(path, os.O_RDONLY)
    try:
        host.link(
            "add",
            ifname=plug.host_ifname,
            kind="veth",
            peer={"ifname": plug.ifname, "net_ns_fd": ns_fd, "address": plug.mac},
        )
    finally:
        os.close(ns_fd)
    host_index = _index(host, plug.host_ifname)
    assert host_index is not None
    host.link("set", index=host_index, master=bridge, state="up")
    # Hairpin: a container may reach itself through its own published port.
    host.brport("set", index=host_index, mode=1)
    index = _index(inner, plug.ifname)
    assert index is not None
    inner.addr("add", index=index, address=str(plug.address), prefixlen=plug.prefix_len)
    for extra in plug.link_local:
        inner.addr("add", index=index, address=str(extra.ip), prefixlen=extra.network.prefixlen)
    inner.link("set", index=index, state="up")
    if plug.gateway is not None:
        # The first network's gateway is the way out; later ones add no second default.
        _tolerate(errno.EEXIST, inner.route, "add", dst="default", gateway=str(plug.gateway))


def make_sandbox(path: Path, plugs: Sequence[Plug], *, listen_dns: bool = False) -> Listeners:
    """A new namespace bound at `path`, `lo` up, the endpoints plugged in, and the
    embedded DNS server's sockets bound if asked (the caller owns them). Changes the
    calling thread's namespace: run it in a thread of its own."""
    with _iproute() as host:  # opened before the thread leaves the daemon's namespace
        netns.unshare_and_bind(path)
        with _iproute() as inner:
            _loopback_up(inner)
            for plug in plugs:
                _plug(host, inner, path, plug)
    return dns.open_listeners() if listen_dns else None


def plug_into(path: Path, plug: Plug, *, listen_dns: bool = False) -> Listeners:
    """One more endpoint into an existing sandbox (connect of a running container), and
    the embedded DNS server's sockets if asked. Changes the calling thread's namespace:
    run it in a thread of its own."""
    with _iproute() as host:
        netns.enter(path)
        with _iproute() as inner:
            _plug(host, inner, path, plug)
    return dns.open_listeners() if listen_dns else None


def listen_in(path: Path) -> tuple[socket.socket, socket.socket]:
    """The embedded DNS server's sockets bound in an existing sandbox (a restarted
    daemon serving running containers again). Run it in a thread of its own."""
    netns.enter(path)
    return dns.open_listeners()


def remove_link(name: str) -> None:
    """Delete a link of ours in the daemon's namespace (deleting one end of a veth pair
    deletes both); gone already is fine. Blocking, from any thread in that namespace."""
    with _iproute() as host:
        index = _index(host, name)
        if index is not None:
            _tolerate(errno.ENODEV, host.link, "del", index=index)
