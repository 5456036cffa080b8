"""IPv4 pools and addresses as dockerd hands them out (pure logic)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from daemon import errors
from daemon.network.ipam import (
    NO_POOL,
    Pool,
    default_pools,
    link_local_interfaces,
    mac_for,
    parse_subnet,
    pick_subnet,
)


def test_default_pools_go_from_172_17_to_172_31_then_the_slash_20s_of_192_168() -> None:
    pools = list(default_pools())
    assert pools[0] == IPv4Network("172.17.0.0/16")
    assert pools[14] == IPv4Network("172.31.0.0/16")
    assert pools[15] == IPv4Network("192.168.0.0/20")
    assert pools[-1] == IPv4Network("192.168.240.0/20")
    assert len(pools) == 15 + 16


def test_pick_subnet_takes_the_first_pool_that_overlaps_nothing_in_use() -> None:
    assert pick_subnet([]) == IPv4Network("172.17.0.0/16")
    in_use = [IPv4Network("172.17.0.0/16"), IPv4Network("172.18.5.0/24")]
    assert pick_subnet(in_use) == IPv4Network("172.19.0.0/16")
    with pytest.raises(errors.Forbidden, match=NO_POOL):
        pick_subnet([IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16")])


def test_addresses_are_the_lowest_free_ones_skipping_the_gateway() -> None:
    pool = Pool.configure(IPv4Network("172.18.0.0/16"))
    assert pool.gateway == IPv4Address("172.18.0.1")
    first, second = pool.allocate(), pool.allocate()
    assert (str(first), str(second)) == ("172.18.0.2", "172.18.0.3")
    pool.release(first)
    assert str(pool.allocate()) == "172.18.0.2"
    assert str(pool.allocate("172.18.9.9")) == "172.18.9.9"
    with pytest.raises(errors.Forbidden):
        pool.allocate("172.18.9.9")
    with pytest.raises(errors.Forbidden):
        pool.allocate("172.18.0.1")  # the gateway
    with pytest.raises(errors.InvalidParameter):
        pool.allocate("10.0.0.2")


def test_a_given_gateway_and_ip_range_are_honoured_and_checked() -> None:
    pool = Pool.configure(IPv4Network("10.10.0.0/24"), "10.10.0.254", "10.10.0.128/25")
    assert str(pool.gateway) == "10.10.0.254"
    assert str(pool.allocate()) == "10.10.0.129"
    with pytest.raises(errors.Forbidden):
        Pool.configure(IPv4Network("10.10.0.0/24"), "10.11.0.1")
    with pytest.raises(errors.Forbidden):
        Pool.configure(IPv4Network("10.10.0.0/24"), "", "10.10.1.0/25")


def test_a_small_pool_runs_out_cleanly() -> None:
    pool = Pool.configure(IPv4Network("10.0.0.0/30"))
    assert str(pool.allocate()) == "10.0.0.2"
    with pytest.raises(errors.Forbidden):
        pool.allocate()


def test_subnets_parse_as_dockerd_reads_them() -> None:
    assert parse_subnet("10.1.2.3/16") == IPv4Network("10.1.0.0/16")
    for bad in ("10.1.2.3", "nonsense/8", "10.0.0.0/33"):
        with pytest.raises(errors.InvalidParameter, match="invalid CIDR address"):
            parse_subnet(bad)


def test_mac_is_02_42_and_the_address() -> None:
    assert mac_for(IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"


def test_auxiliary_addresses_in_the_range_are_never_handed_out() -> None:
    aux = {"router": "10.20.0.2", "printer": "10.20.0.4", "outside": "10.20.1.9"}
    pool = Pool.configure(IPv4Network("10.20.0.0/16"), "", "10.20.0.0/24", aux, "n")
    assert {k: str(v) for k, v in pool.aux.items()} == aux
    # The lowest free addresses skip the two reserved in the range.
    got = [str(pool.allocate()) for _ in range(3)]
    assert got == ["10.20.0.3", "10.20.0.5", "10.20.0.6"]
    assert {str(a) for a in pool.reserved} == {"10.20.0.2", "10.20.0.4"}
    with pytest.raises(errors.Forbidden, match="Address already in use"):
        pool.allocate("10.20.0.4")


@pytest.mark.parametrize(
    ("aux", "error", "text"),
    [
        (
            {"a": "10.21.0.300"},
            errors.InvalidParameter,
            "non parsable secondary ip address (a:10.21.0.300) passed for network net1",
        ),
        (
            {"a": "10.22.0.5"},
            errors.Forbidden,
            "auxiliary address: (a:10.22.0.5) must belong to the master pool: 10.21.0.0/16",
        ),
        (
            {"gw": "10.21.0.1"},
            errors.SystemError,
            "failed to allocate secondary ip address (gw:10.21.0.1): Address already in use",
        ),
        (
            {"a": "10.21.0.7", "b": "10.21.0.7"},
            errors.SystemError,
            "failed to allocate secondary ip address (b:10.21.0.7): Address already in use",
        ),
        (
            {"net": "10.21.0.0"},
            errors.SystemError,
            "failed to allocate secondary ip address (net:10.21.0.0): Address already in use",
        ),
    ],
    ids=["unparsable", "outside-the-subnet", "the-gateway", "twice", "the-network-address"],
)
def test_auxiliary_addresses_are_checked_as_dockerd_checks_them(
    aux: dict[str, str], error: type[errors.DaemonError], text: str
) -> None:
    with pytest.raises(error) as raised:
        Pool.configure(IPv4Network("10.21.0.0/16"), "", "", aux, "net1")
    assert raised.value.message == text


def test_link_local_ips_become_interface_addresses_as_dockerd_adds_them() -> None:
    found = link_local_interfaces(["169.254.8.8", "fe80::99"])
    assert [str(i) for i in found] == ["169.254.8.8/16", "fe80::99/64"]
    assert link_local_interfaces([]) == []


@pytest.mark.parametrize(
    ("ips", "error", "text"),
    [
        (
            ["169.254.1.1", "x"],
            errors.SystemError,
            "Invalid link-local IP address: [169.254.1.1 x]",
        ),
        (["10.0.0.1"], errors.SystemError, "invalid link local IP address: 10.0.0.1"),
        (["2001:db8::1"], errors.SystemError, "invalid link local IP address: 2001:db8::1"),
        ([""], errors.SystemError, "invalid link local IP address: <nil>"),
    ],
    ids=["unparsable", "not-link-local", "not-link-local-v6", "empty"],
)
def test_bad_link_local_ips_get_dockerds_errors(
    ips: list[str], error: type[errors.DaemonError], text: str
) -> None:
    with pytest.raises(error) as raised:
        link_local_interfaces(ips)
    assert raised.value.message == text
