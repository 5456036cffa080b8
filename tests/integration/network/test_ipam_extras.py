"""IPAM's AuxiliaryAddresses and an endpoint's LinkLocalIPs, with the docker SDK, in a private
namespace: what docker-py's integration tests ask of them (test_create_network_with_ipam_config,
test_create_with_linklocal_ips), plus what dockerd 20.10 does with them besides: auxiliary
addresses in the range are never given to a container, and link-local addresses are added
to the container's interface. SDK calls run in a worker thread."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import docker
import docker.errors
import pytest
import pytest_asyncio
from docker.types import EndpointConfig, IPAMConfig, IPAMPool

from tests.support.netns import NetnsDaemon

T = TypeVar("T")


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


@pytest_asyncio.fixture(loop_scope="session")
async def api(ns_daemon: NetnsDaemon) -> AsyncIterator[docker.APIClient]:
    client = await off_loop(docker.APIClient, base_url=ns_daemon.host, version="1.41")
    try:
        yield client
    finally:
        client.close()


@contextlib.asynccontextmanager
async def _network(api: docker.APIClient, name: str, **options: Any) -> AsyncIterator[str]:
    created = await off_loop(api.create_network, name, **options)
    try:
        yield str(created["Id"])
    finally:
        for container in (await off_loop(api.inspect_network, name))["Containers"]:
            await off_loop(api.remove_container, container, force=True)
        await off_loop(api.remove_network, name)


async def _addresses(daemon: NetnsDaemon, container: str, ifname: str) -> list[str]:
    """The container's IPv4 and IPv6 addresses on `ifname`, as `ip` shows them (CIDR)."""
    out = await daemon.docker_ok("exec", container, "busybox", "ip", "addr", "show", "dev", ifname)
    return [
        line.split()[1] for line in out.splitlines() if line.strip().startswith(("inet ", "inet6 "))
    ]


async def test_a_network_keeps_its_auxiliary_addresses(api: docker.APIClient) -> None:
    aux = {"a": "172.28.1.5", "b": "172.28.1.6", "c": "172.28.1.7"}
    pool = IPAMPool(
        subnet="172.28.0.0/16", iprange="172.28.5.0/24", gateway="172.28.5.254", aux_addresses=aux
    )
    async with _network(api, "aux-kept", ipam=IPAMConfig(driver="default", pool_configs=[pool])):
        ipam = (await off_loop(api.inspect_network, "aux-kept"))["IPAM"]
        assert ipam["Options"] is None and ipam["Driver"] == "default"
        assert ipam["Config"] == [
            {
                "Subnet": "172.28.0.0/16",
                "IPRange": "172.28.5.0/24",
                "Gateway": "172.28.5.254",
                "AuxiliaryAddresses": aux,
            }
        ]


async def test_auxiliary_addresses_are_never_given_to_a_container(
    ns_daemon: NetnsDaemon, api: docker.APIClient
) -> None:
    # A /29: .1 the gateway, .2 and .3 reserved, so containers get .4, .5 and .6, no more.
    pool = IPAMPool(
        subnet="10.99.0.0/29", aux_addresses={"router": "10.99.0.2", "nas": "10.99.0.3"}
    )
    async with _network(api, "aux-reserved", ipam=IPAMConfig(pool_configs=[pool])):
        given = []
        for n in range(3):
            await ns_daemon.docker_ok(
                "run",
                "-d",
                "--name",
                f"aux{n}",
                "--network",
                "aux-reserved",
                "busybox",
                "sleep",
                "600",
            )
            inspected = json.loads(await ns_daemon.docker_ok("inspect", f"aux{n}"))[0]
            given.append(inspected["NetworkSettings"]["Networks"]["aux-reserved"]["IPAddress"])
        assert given == ["10.99.0.4", "10.99.0.5", "10.99.0.6"]
        # The pool is spent: the reserved addresses are not handed out instead.
        full = await ns_daemon.docker(
            "run", "-d", "--name", "aux3", "--network", "aux-reserved", "busybox", "sleep", "600"
        )
        assert full.returncode != 0
        assert "no available IPv4 addresses" in full.stderr
        status = (await off_loop(api.inspect_network, "aux-reserved"))["Containers"]
        assert len(status) == 3


@pytest.mark.parametrize(
    ("aux", "status", "message"),
    [
        (
            {"a": "10.98.1.1"},
            403,
            "auxiliary address: (a:10.98.1.1) must belong to the master pool: 10.98.0.0/24",
        ),
        (
            {"a": "nonsense"},
            400,
            "non parsable secondary ip address (a:nonsense) passed for network aux-bad",
        ),
        (
            {"gw": "10.98.0.1"},
            500,
            "failed to allocate secondary ip address (gw:10.98.0.1): Address already in use",
        ),
    ],
    ids=["outside-the-subnet", "unparsable", "the-gateway"],
)
async def test_a_bad_auxiliary_address_is_refused_and_makes_nothing(
    api: docker.APIClient, aux: dict[str, str], status: int, message: str
) -> None:
    pool = IPAMPool(subnet="10.98.0.0/24", aux_addresses=aux)
    with pytest.raises(docker.errors.APIError) as refused:
        await off_loop(api.create_network, "aux-bad", ipam=IPAMConfig(pool_configs=[pool]))
    assert refused.value.status_code == status
    assert refused.value.explanation == message
    assert await off_loop(api.networks, names=["aux-bad"]) == []


async def test_link_local_ips_are_kept_and_on_the_interface(
    ns_daemon: NetnsDaemon, api: docker.APIClient
) -> None:
    # docker-py's test: on the default bridge, through NetworkingConfig.
    networking = api.create_networking_config(
        {"bridge": api.create_endpoint_config(link_local_ips=["169.254.8.8"])}
    )
    host_config = api.create_host_config(network_mode="bridge")
    created = await off_loop(
        api.create_container,
        "busybox",
        "sleep 600",
        name="ll-create",
        networking_config=networking,
        host_config=host_config,
    )
    try:
        await off_loop(api.start, created)
        settings = (await off_loop(api.inspect_container, created))["NetworkSettings"]
        assert settings["Networks"]["bridge"]["IPAMConfig"] == {"LinkLocalIPs": ["169.254.8.8"]}
        on_eth0 = await _addresses(ns_daemon, "ll-create", "eth0")
        assert "169.254.8.8/16" in on_eth0 and "172.17.0.2/16" in on_eth0

        # Connected while running, next to an address of its own choosing.
        async with _network(
            api, "ll-net", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="10.97.0.0/24")])
        ):
            await off_loop(
                api.connect_container_to_network,
                created,
                "ll-net",
                ipv4_address="10.97.0.9",
                link_local_ips=["169.254.9.9", "fe80::99"],
            )
            entry = (await off_loop(api.inspect_container, created))["NetworkSettings"]["Networks"][
                "ll-net"
            ]
            assert entry["IPAMConfig"] == {
                "IPv4Address": "10.97.0.9",
                "LinkLocalIPs": ["169.254.9.9", "fe80::99"],
            }
            on_eth1 = await _addresses(ns_daemon, "ll-create", "eth1")
            assert {"10.97.0.9/24", "169.254.9.9/16", "fe80::99/64"} <= set(on_eth1)
            await off_loop(api.disconnect_container_from_network, created, "ll-net")
    finally:
        await off_loop(api.remove_container, created, force=True)


@pytest.mark.parametrize(
    ("ips", "status", "message"),
    [
        # dockerd 20.10.24 answers both 500 at a start (and at a connect of a running container).
        (["10.1.2.3"], 500, "invalid link local IP address: 10.1.2.3"),
        (["169.254.1.1", "nonsense"], 500, "Invalid link-local IP address: [169.254.1.1 nonsense]"),
    ],
    ids=["not-link-local", "unparsable"],
)
async def test_a_bad_link_local_ip_fails_the_start_as_with_dockerd(
    api: docker.APIClient, ips: list[str], status: int, message: str
) -> None:
    # dockerd keeps them at create and checks them when the endpoint is made.
    networking = api.create_networking_config(
        {"bridge": EndpointConfig(version="1.41", link_local_ips=ips)}
    )
    created = await off_loop(
        api.create_container, "busybox", "sleep 600", name="ll-bad", networking_config=networking
    )
    try:
        with pytest.raises(docker.errors.APIError) as refused:
            await off_loop(api.start, created)
        assert refused.value.status_code == status
        assert message in str(refused.value.explanation)
        inspected = await off_loop(api.inspect_container, created)
        assert inspected["State"]["Running"] is False
        bridge = await off_loop(api.inspect_network, "bridge")
        assert created["Id"] not in bridge["Containers"]  # no endpoint left behind
    finally:
        await off_loop(api.remove_container, created, force=True)
