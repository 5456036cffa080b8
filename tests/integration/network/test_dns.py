"""Name resolution on user-defined networks through the embedded DNS server at
127.0.0.11, in a private namespace: containers reach each other by name, alias and
short id; other networks do not see them; a connect makes a running container
resolvable at once; a name nobody knows fails fast; resolv.conf and hosts are
dockerd's."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.integration.network.test_bridge import _fetch_from_daemon_namespace as fetch_until_served
from tests.support.netns import NetnsDaemon

HTTPD = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
# A DNS client run inside a container's namespace (nsenter by its SandboxKey): one query
# for argv[1] of type argv[2] over argv[3] (udp/tcp); prints rcode, answers and seconds.
DNS_CLIENT = """
import socket, struct, sys, time
from dnslib import DNSRecord
name, qtype, proto = sys.argv[1:4]
query = DNSRecord.question(name, qtype).pack()
started = time.monotonic()
if proto == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(query, ("127.0.0.11", 53))
    data = s.recv(4096)
else:
    s = socket.create_connection(("127.0.0.11", 53), timeout=5)
    s.sendall(struct.pack("!H", len(query)) + query)
    length = struct.unpack("!H", s.recv(2))[0]
    data = b""
    while len(data) < length:
        data += s.recv(length - len(data))
reply = DNSRecord.parse(data)
print(reply.header.rcode, sorted(str(r.rdata) for r in reply.rr), time.monotonic() - started)
"""

# Garbage at the server: a short datagram, random bytes, a response, a TCP connection
# closed mid-length, and one with a garbage message (the server drops it and closes).
MISBEHAVE = """
import os, socket, struct
from dnslib import DNSRecord
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for junk in (b"\\x00", os.urandom(40), DNSRecord.question("x").reply().pack()):
    udp.sendto(junk, ("127.0.0.11", 53))
half = socket.create_connection(("127.0.0.11", 53), timeout=5)
half.sendall(b"\\x00")
half.close()
bad = socket.create_connection(("127.0.0.11", 53), timeout=5)
bad.sendall(struct.pack("!H", 5) + b"\\xff" * 5)
print(repr(bad.recv(10)))
"""

UPSTREAM = "10.53.0.1"  # a resolver of the test's own, on the daemon namespace's lo
# It answers every A query with 10.1.2.3 until stdin closes.
FAKE_UPSTREAM = """
import select, socket, sys
from dnslib import QTYPE, RR, A, DNSRecord
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
print("ready", flush=True)
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [], 60)
    if sys.stdin in ready or not ready:
        break
    data, peer = s.recvfrom(4096)
    query = DNSRecord.parse(data)
    reply = query.reply()
    if query.q.qtype == QTYPE.A:
        reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A("10.1.2.3"), ttl=5))
    s.sendto(reply.pack(), peer)
"""

# Queries each name of argv[1:] over UDP; prints "name address" per answer.
RESOLVE_ALL = """
import socket, sys
from dnslib import DNSRecord
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for name in sys.argv[1:]:
    s.sendto(DNSRecord.question(name).pack(), ("127.0.0.11", 53))
    reply = DNSRecord.parse(s.recv(4096))
    print(name, *[str(r.rdata) for r in reply.rr])
"""


async def _inspect(daemon: NetnsDaemon, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(await daemon.docker_ok("inspect", name))
    return found[0]


def _address(container: dict[str, Any]) -> str:
    (network,) = container["NetworkSettings"]["Networks"].values()
    return str(network["IPAddress"])


async def _fetch(daemon: NetnsDaemon, container: str, host: str) -> str:
    """`wget http://host/` from inside `container`, time-limited. (The test image links
    few applets, busybox's sh runs the others; its wget crashes with -T.)"""
    command = f"timeout 3 sh -c 'wget -qO- http://{host}/'"
    result = await daemon.docker("exec", container, "sh", "-c", command)
    return result.stdout if result.returncode == 0 else f"failed ({result.returncode})"


async def _in_sandbox(daemon: NetnsDaemon, container: str, source: str, *args: str) -> str:
    """Python `source` run in the container's network namespace (nsenter by SandboxKey)."""
    sandbox = (await _inspect(daemon, container))["NetworkSettings"]["SandboxKey"]
    result = await daemon.netns.run(
        "nsenter", f"--net={sandbox}", "--", sys.executable, "-c", source, *args
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def _query(
    daemon: NetnsDaemon, container: str, name: str, qtype: str = "A", proto: str = "udp"
) -> tuple[int, list[str], float]:
    out = await _in_sandbox(daemon, container, DNS_CLIENT, name, qtype, proto)
    rcode, rest = out.split(" ", 1)
    answers, seconds = rest.rsplit(" ", 1)
    return int(rcode), json.loads(answers.replace("'", '"')), float(seconds)


async def test_containers_on_a_network_resolve_each_other(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("network", "create", "front")
    await ns_daemon.docker_ok("network", "create", "back")
    for name, network, alias in (("alpha", "front", "a1"), ("beta", "front", "web"),
                                 ("gamma", "back", "g1")):  # fmt: skip
        await ns_daemon.docker_ok("run", "-d", "--name", name, "--hostname", name,
                                  "--network", network, "--network-alias", alias,
                                  "busybox", "sh", "-c", HTTPD)  # fmt: skip
        address = (await _inspect(ns_daemon, name))["NetworkSettings"]["Networks"][network]
        assert await fetch_until_served(ns_daemon, f"http://{address['IPAddress']}/") == (
            f"{name}\n"
        )
    beta = await _inspect(ns_daemon, "beta")
    beta_ip = beta["NetworkSettings"]["Networks"]["front"]["IPAddress"]
    short_id = beta["Id"][:12]

    # By name, alias and short id, through resolv.conf's 127.0.0.11.
    for host in ("beta", "web", short_id, "beta.front"):
        assert await _fetch(ns_daemon, "alpha", host) == "beta\n", host
    looked_up = await ns_daemon.docker_ok("exec", "alpha", "sh", "-c", "nslookup web")
    assert f"Address: {beta_ip}" in looked_up
    ping = await ns_daemon.docker_ok("exec", "alpha", "sh", "-c", "ping -c 1 -W 2 beta")
    assert "1 packets received" in ping
    assert (await _query(ns_daemon, "alpha", "BETA", proto="tcp"))[:2] == (0, [beta_ip])
    # The reverse of an address on the network is its container.
    reverse = ".".join(reversed(beta_ip.split("."))) + ".in-addr.arpa"
    assert (await _query(ns_daemon, "alpha", reverse, "PTR"))[1] == ["beta.front."]

    # gamma, on another network, neither resolves nor reaches them.
    code, answers, _ = await _query(ns_daemon, "gamma", "beta")
    assert (code, answers) == (2, [])  # not ours: forwarded, no resolver reachable
    assert (await _fetch(ns_daemon, "gamma", beta_ip)).startswith("failed")

    # Connected while running, it resolves and is resolved at once.
    await ns_daemon.docker_ok("network", "connect", "--alias", "late", "front", "gamma")
    assert await _fetch(ns_daemon, "gamma", "web") == "beta\n"
    assert await _fetch(ns_daemon, "alpha", "late") == "gamma\n"
    assert await _fetch(ns_daemon, "alpha", "gamma") == "gamma\n"

    # A link on a user network is a name only its container resolves.
    await ns_daemon.docker_ok("run", "-d", "--name", "epsilon", "--network", "front",
                              "--link", "beta:database", "busybox", "sleep", "300")  # fmt: skip
    assert await _fetch(ns_daemon, "epsilon", "database") == "beta\n"
    assert (await _query(ns_daemon, "alpha", "database"))[:2] == (2, [])
    epsilon = await _inspect(ns_daemon, "epsilon")
    assert epsilon["NetworkSettings"]["Networks"]["front"]["Links"] == ["beta:database"]

    # One on the default bridge has no resolver, until a connect starts it and points its
    # resolv.conf there, as dockerd does.
    await ns_daemon.docker_ok("run", "-d", "--name", "delta", "--dns-search", "example.test",
                              "busybox", "sleep", "300")  # fmt: skip
    resolv = "cat /etc/resolv.conf"
    assert "127.0.0.11" not in await ns_daemon.docker_ok("exec", "delta", "sh", "-c", resolv)
    assert (await _fetch(ns_daemon, "delta", "web")).startswith("failed")
    await ns_daemon.docker_ok("network", "connect", "front", "delta")
    assert await ns_daemon.docker_ok("exec", "delta", "sh", "-c", resolv) == (
        "search example.test\nnameserver 127.0.0.11\noptions ndots:0\n"
    )
    assert await _fetch(ns_daemon, "delta", "web") == "beta\n"

    # A stopped container's name is gone with its endpoint.
    await ns_daemon.docker_ok("stop", "-t", "0", "beta")
    code, answers, _ = await _query(ns_daemon, "alpha", "beta")
    assert (code, answers) == (2, [])
    await ns_daemon.docker_ok("rm", "-f", "alpha", "beta", "gamma", "delta", "epsilon")
    await ns_daemon.docker_ok("network", "rm", "front", "back")


async def test_unknown_names_fail_fast_without_a_reachable_resolver(
    ns_daemon: NetnsDaemon,
) -> None:
    await ns_daemon.docker_ok("network", "create", "lonely")
    await ns_daemon.docker_ok("run", "-d", "--name", "asker", "--network", "lonely",
                              "busybox", "sleep", "300")  # fmt: skip
    asker = await _inspect(ns_daemon, "asker")
    # With the host's resolvers (unreachable from the private namespace) and with a --dns
    # of its own that routes nowhere: SERVFAIL within a second, over UDP and TCP.
    await ns_daemon.docker_ok("run", "-d", "--name", "asker2", "--network", "lonely",
                              "--dns", "10.255.255.1", "busybox", "sleep", "300")  # fmt: skip
    for container in ("asker", "asker2"):
        for proto in ("udp", "tcp"):
            code, answers, seconds = await _query(
                ns_daemon, container, "nothing.example.", proto=proto
            )
            assert (code, answers) == (2, []), (container, proto)
            assert seconds < 1.0, (container, proto, seconds)
    failed = await ns_daemon.docker("exec", "asker", "sh", "-c", "nslookup nothing.example")
    assert failed.returncode != 0

    # Garbage is dropped (the bad TCP connection is closed with no reply) and the server
    # answers the next query.
    assert await _in_sandbox(ns_daemon, "asker2", MISBEHAVE) == "b''\n"
    assert (await _query(ns_daemon, "asker2", "asker"))[:2] == (0, [_address(asker)])
    await ns_daemon.docker_ok("rm", "-f", "asker", "asker2")
    await ns_daemon.docker_ok("network", "rm", "lonely")


async def test_other_names_are_forwarded_except_from_internal_networks(
    ns_daemon: NetnsDaemon,
) -> None:
    addresses = await ns_daemon.netns.check("ip", "-o", "addr", "show", "dev", "lo")
    if UPSTREAM not in addresses:
        await ns_daemon.netns.check("ip", "addr", "add", f"{UPSTREAM}/32", "dev", "lo")
    server = await asyncio.create_subprocess_exec(
        *ns_daemon.netns.argv(sys.executable, "-c", FAKE_UPSTREAM, UPSTREAM),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        async with asyncio.timeout(10):
            assert await server.stdout.readline() == b"ready\n"
        await ns_daemon.docker_ok("network", "create", "outward")
        await ns_daemon.docker_ok("network", "create", "--internal", "inward")
        for name, network in (("out", "outward"), ("in", "inward")):
            await ns_daemon.docker_ok("run", "-d", "--name", name, "--network", network,
                                      "--dns", UPSTREAM, "busybox", "sleep", "300")  # fmt: skip
        for proto in ("udp", "tcp"):
            forwarded = await _query(ns_daemon, "out", "www.example.", proto=proto)
            assert forwarded[:2] == (0, ["10.1.2.3"])
            # Only on an internal network: nothing leaves, as in dockerd (SERVFAIL).
            assert (await _query(ns_daemon, "in", "www.example.", proto=proto))[:2] == (2, [])
        await ns_daemon.docker_ok("rm", "-f", "out", "in")
        await ns_daemon.docker_ok("network", "rm", "outward", "inward")
    finally:
        assert server.stdin is not None
        server.stdin.close()
        async with asyncio.timeout(10):
            await server.wait()


async def test_resolv_conf_and_hosts_as_dockerd_writes_them(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("network", "create", "--subnet", "10.40.0.0/24", "named")
    options = ["--dns", "10.255.255.1", "--dns-search", "example.test",
               "--dns-option", "timeout:1", "--add-host", "gw:host-gateway",
               "--add-host", "db.local:10.1.2.3", "--hostname", "box"]  # fmt: skip
    script = "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; hostname"
    on_user = await ns_daemon.docker_ok(
        "run", "--rm", "--network", "named", "--ip", "10.40.0.7", *options,
        "busybox", "sh", "-c", script,
    )  # fmt: skip
    on_bridge = await ns_daemon.docker_ok("run", "--rm", *options, "busybox", "sh", "-c", script)
    hosts = (
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n172.17.0.1\tgw\n10.1.2.3\tdb.local\n"
    )
    assert on_user == (
        "search example.test\nnameserver 127.0.0.11\noptions timeout:1 ndots:0\n---\n"
        f"{hosts}10.40.0.7\tbox\n---\nbox\n"
    )
    assert on_bridge == (
        "search example.test\nnameserver 10.255.255.1\noptions timeout:1\n---\n"
        f"{hosts}172.17.0.2\tbox\n---\nbox\n"
    )
    # dockerd 20.10 appends its ndots:0 after a user's own ndots; the user's then makes
    # the server answer single-label names it does not know empty (the client goes on
    # with its search list) instead of forwarding them.
    await ns_daemon.docker_ok("run", "-d", "--name", "dotted", "--network", "named",
                              "--dns-option", "ndots:2", "busybox", "sleep", "300")  # fmt: skip
    written = await ns_daemon.docker_ok("exec", "dotted", "grep", "options", "/etc/resolv.conf")
    assert written == "options ndots:2 ndots:0\n"
    assert (await _query(ns_daemon, "dotted", "nothing"))[:2] == (0, [])
    assert (await _query(ns_daemon, "dotted", "nothing.example"))[:2] == (2, [])
    await ns_daemon.docker_ok("rm", "-f", "dotted")
    await ns_daemon.docker_ok("network", "rm", "named")


async def test_containers_started_together_all_resolve_each_other(
    ns_daemon: NetnsDaemon,
) -> None:
    await ns_daemon.docker_ok("network", "create", "crowd")
    names = [f"c{number}" for number in range(8)]
    await asyncio.gather(*(
        ns_daemon.docker_ok("run", "-d", "--name", name, "--network", "crowd",
                            "busybox", "sleep", "300")
        for name in names
    ))  # fmt: skip
    addresses = {name: _address(await _inspect(ns_daemon, name)) for name in names}
    assert len(set(addresses.values())) == len(names)
    for asker in (names[0], names[-1]):
        out = await _in_sandbox(ns_daemon, asker, RESOLVE_ALL, *names)
        assert dict(line.split() for line in out.splitlines()) == addresses
    await ns_daemon.docker_ok("rm", "-f", *names)
    await ns_daemon.docker_ok("network", "rm", "crowd")
