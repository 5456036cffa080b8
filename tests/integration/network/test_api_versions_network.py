"""The rows of the API version history that need bridge networking, walked against a
mooraged in a private namespace (the rest: tests/integration/http/test_api_versions.py).
Each probe is one call at the version before the change and one at it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from tests.support.daemon import api_call
from tests.support.netns import NetnsDaemon
from wire.api_versions import CHANGES, Change

Observe = Callable[[NetnsDaemon, str], Awaitable[object]]


@dataclass(frozen=True)
class NetworkProbe:
    observe: Observe
    before: object
    at: object


NETWORK_PROBES: dict[str, NetworkProbe] = {}


def probe(key: str, before: object, at: object) -> Callable[[Observe], Observe]:
    def register(observe: Observe) -> Observe:
        NETWORK_PROBES[key] = NetworkProbe(observe, before, at)
        return observe

    return register


async def _running_on(daemon: NetnsDaemon, network: str, name: str) -> str:
    """A running busybox on `network` (made once per name), with the alias "web"."""
    inspected = await api_call(daemon.socket, "GET", f"/containers/{name}/json")
    if inspected.status == 200:
        return str(inspected.json()["Id"])
    made = await api_call(daemon.socket, "POST", "/networks/create", body={"Name": network})
    assert made.status in (201, 409), made.body
    created = await api_call(
        daemon.socket, "POST", "/containers/create", params=[("name", name)],
        body={"Image": "busybox", "Cmd": ["sleep", "600"], "Hostname": "probe-host",
              "HostConfig": {"NetworkMode": network},
              "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": ["web"]}}}},
    )  # fmt: skip
    assert created.status == 201, created.body
    ref = str(created.json()["Id"])
    started = await api_call(daemon.socket, "POST", f"/containers/{ref}/start")
    assert started.status == 204, started.body
    return ref


@probe("dns-names", None, ["probe-dns", "web", "<short id>", "probe-host"])
async def _dns_names(daemon: NetnsDaemon, version: str) -> object:
    ref = await _running_on(daemon, "probe-net", "probe-dns")
    inspected = await api_call(daemon.socket, "GET", f"/containers/{ref}/json", version=version)
    names = inspected.json()["NetworkSettings"]["Networks"]["probe-net"].get("DNSNames")
    return None if names is None else [n if n != ref[:12] else "<short id>" for n in names]


@probe("aliases-short-id", ["web", "<short id>"], ["web"])
async def _aliases_short_id(daemon: NetnsDaemon, version: str) -> object:
    ref = await _running_on(daemon, "probe-net", "probe-dns")
    inspected = await api_call(daemon.socket, "GET", f"/containers/{ref}/json", version=version)
    aliases = inspected.json()["NetworkSettings"]["Networks"]["probe-net"]["Aliases"]
    return [a if a != ref[:12] else "<short id>" for a in aliases]


@probe(
    "create-multiple-endpoints",
    (400, "Container cannot be connected to network endpoints: probe-net, probe-net2"),
    (201, ["probe-net", "probe-net2"]),
)
async def _multiple_endpoints(daemon: NetnsDaemon, version: str) -> object:
    """A create naming two networks: refused before 1.44, a member of both from 1.44."""
    await _running_on(daemon, "probe-net", "probe-dns")  # makes probe-net
    made = await api_call(daemon.socket, "POST", "/networks/create", body={"Name": "probe-net2"})
    assert made.status in (201, 409), made.body
    created = await api_call(
        daemon.socket, "POST", "/containers/create", version=version,
        body={"Image": "busybox", "Cmd": ["sleep", "600"],
              "HostConfig": {"NetworkMode": "probe-net"},
              "NetworkingConfig": {"EndpointsConfig": {
                  "probe-net": {"Aliases": ["one"]}, "probe-net2": {"Aliases": ["two"]}}}},
    )  # fmt: skip
    if created.status != 201:
        return created.status, created.message
    ref = created.json()["Id"]
    inspected = await api_call(daemon.socket, "GET", f"/containers/{ref}/json", version=version)
    networks = inspected.json()["NetworkSettings"]["Networks"]
    assert networks["probe-net2"]["Aliases"] == ["two"], networks
    started = await api_call(daemon.socket, "POST", f"/containers/{ref}/start")
    assert started.status == 204, started.body
    running = await api_call(daemon.socket, "GET", f"/containers/{ref}/json", version=version)
    addresses = [n["IPAddress"] for n in running.json()["NetworkSettings"]["Networks"].values()]
    assert all(addresses) and len(set(addresses)) == 2, addresses
    await api_call(daemon.socket, "DELETE", f"/containers/{ref}", params=[("force", "1")])
    return created.status, sorted(networks)


@probe("info-firewall", None, {"Driver": "nftables"})
async def _info_firewall(daemon: NetnsDaemon, version: str) -> object:
    info = await api_call(daemon.socket, "GET", "/info", version=version)
    return info.json().get("FirewallBackend")


DUPLICATE = (409, "network with name probe-dup already exists")


@probe("network-create-validation", (DUPLICATE, 403), (DUPLICATE, 403))
async def _network_validation(daemon: NetnsDaemon, version: str) -> object:
    """A duplicate name and a gateway outside its subnet, refused alike at every version
    (the latter with dockerd 20.10's 403)."""
    await api_call(daemon.socket, "POST", "/networks/create", body={"Name": "probe-dup"})
    again = await api_call(
        daemon.socket, "POST", "/networks/create", version=version, body={"Name": "probe-dup"}
    )
    bad = await api_call(
        daemon.socket, "POST", "/networks/create", version=version,
        body={"Name": "probe-bad", "IPAM": {"Config": [{"Subnet": "10.99.0.0/16",
                                                        "Gateway": "10.98.0.1"}]}},
    )  # fmt: skip
    return (again.status, again.message), bad.status


@probe("network-enable-ipv4", (201, None), (400, True))
async def _enable_ipv4(daemon: NetnsDaemon, version: str) -> object:
    """Creating with EnableIPv4=false (ignored before 1.48), and what inspect says then."""
    name = f"probe-v4-{version}"
    made = await api_call(
        daemon.socket, "POST", "/networks/create", version=version,
        body={"Name": name, "EnableIPv4": False},
    )  # fmt: skip
    if made.status == 400:
        assert made.message == "IPv4 cannot be disabled on this daemon's networks"
    shown = await api_call(daemon.socket, "GET", "/networks/bridge", version=version)
    await api_call(daemon.socket, "DELETE", f"/networks/{name}")
    return made.status, shown.json().get("EnableIPv4")


@probe("network-status", None, {"IPsInUse": 4, "DynamicIPsAvailable": 65532})
async def _network_status(daemon: NetnsDaemon, version: str) -> object:
    ref = await _running_on(daemon, "probe-net", "probe-dns")  # one endpoint on it
    inspected = await api_call(daemon.socket, "GET", "/networks/probe-net", version=version)
    network = inspected.json()
    assert ref in network["Containers"]
    status = network.get("Status")
    if status is None:
        return None
    subnet = network["IPAM"]["Config"][0]["Subnet"]
    assert subnet.endswith("/16"), subnet
    return status["IPAM"]["Subnets"][subnet]


def _before(change: Change) -> str:
    return f"{change.version.major}.{change.version.minor - 1}"


@pytest.mark.parametrize(
    "change", [c for c in CHANGES if c.key in NETWORK_PROBES], ids=lambda c: c.key
)
async def test_version_history_row(ns_daemon: NetnsDaemon, change: Change) -> None:
    row = NETWORK_PROBES[change.key]
    assert await row.observe(ns_daemon, _before(change)) == row.before, f"at {_before(change)}"
    assert await row.observe(ns_daemon, str(change.version)) == row.at, f"at {change.version}"
