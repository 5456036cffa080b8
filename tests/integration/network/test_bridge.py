"""Containers on bridge networks, in a private namespace: each gets its own namespace
made by the daemon, a veth on the bridge with dockerd's address and MAC, a default
route, and is reachable from the daemon's namespace and from other containers on its
network, not from other networks. Everything is undone at exit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.netns import NetnsDaemon

DEADLINE = 10.0
HTTPD = (
    "mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"
)


async def _inspect(daemon: NetnsDaemon, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(await daemon.docker_ok("inspect", name))
    return found[0]


async def _fetch_from_daemon_namespace(daemon: NetnsDaemon, url: str) -> str:
    """GET `url` from the daemon's namespace, retried until the server listens."""
    source = (
        "import sys, time, urllib.request\n"
        f"deadline = time.monotonic() + {DEADLINE}\n"
        "while True:\n"
        "    try:\n"
        f"        print(urllib.request.urlopen({url!r}, timeout=2).read().decode(), end='')\n"
        "        break\n"
        "    except OSError:\n"
        "        if time.monotonic() > deadline: raise\n"
        "        time.sleep(0.05)\n"
    )
    result = await daemon.netns.python(source)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def _links(daemon: NetnsDaemon) -> set[str]:
    out = await daemon.netns.check("ip", "-o", "link", "show")
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


async def _wait_for(check: Any) -> None:
    """Poll kernel state (no event tells when the kernel destroyed a namespace)."""
    async with asyncio.timeout(DEADLINE):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_a_default_run_is_on_the_bridge_and_reachable(ns_daemon: NetnsDaemon) -> None:
    quiet = await ns_daemon.docker("run", "--rm", "busybox", "true")
    assert (quiet.returncode, quiet.stderr) == (0, "")  # no networking warning any more

    await ns_daemon.docker_ok("run", "-d", "--name", "web", "busybox", "sh", "-c", HTTPD)
    web = await _inspect(ns_daemon, "web")
    settings = web["NetworkSettings"]
    assert settings["IPAddress"] == "172.17.0.2"
    assert (settings["Gateway"], settings["IPPrefixLen"]) == ("172.17.0.1", 16)
    assert settings["MacAddress"] == "02:42:ac:11:00:02"
    bridge_entry = settings["Networks"]["bridge"]
    assert bridge_entry["IPAddress"] == "172.17.0.2"
    assert bridge_entry["EndpointID"] == settings["EndpointID"] != ""
    bridge = json.loads(await ns_daemon.docker_ok("network", "inspect", "bridge"))[0]
    assert bridge_entry["NetworkID"] == bridge["Id"]
    assert bridge["Containers"][web["Id"]]["IPv4Address"] == "172.17.0.2/16"
    # The namespace is the daemon's, bound under its exec root.
    sandbox = Path(settings["SandboxKey"])
    assert sandbox == ns_daemon.exec_root / "netns" / web["Id"]

    inside = await ns_daemon.docker_ok(
        "exec", "web", "sh", "-c", "cat /sys/class/net/eth0/address; ip route; cat /etc/hosts"
    )
    assert inside.startswith("02:42:ac:11:00:02\n")
    assert "default via 172.17.0.1 dev eth0" in inside
    assert f"172.17.0.2\t{web['Config']['Hostname']}\n" in inside

    page = f"hello from {web['Config']['Hostname']}\n"
    assert await _fetch_from_daemon_namespace(ns_daemon, "http://172.17.0.2/") == page
    other = await ns_daemon.docker_ok(
        "run", "--rm", "busybox", "sh", "-c", "wget -qO- http://172.17.0.2/"
    )
    assert other == page
    # Its interface's traffic is in its stats, as dockerd's `networks`.
    net_io = await ns_daemon.docker_ok("stats", "--no-stream", "--format", "{{.NetIO}}", "web")
    assert net_io.strip() != "0B / 0B" and "--" not in net_io, net_io
    await ns_daemon.docker_ok("rm", "-f", "web")


async def test_a_mac_address_asked_for_is_the_interfaces(ns_daemon: NetnsDaemon) -> None:
    # The CLI sends --mac-address per network only from API 1.44: Config.MacAddress, as the
    # SDK sends it, is the 1.41 way.
    mac = "02:42:ac:11:00:0a"
    body = {"Image": "busybox", "Cmd": ["cat", "/sys/class/net/eth0/address"], "MacAddress": mac}
    async with (
        aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=str(ns_daemon.socket))
        ) as session,
        session.post("http://d/v1.41/containers/create?name=mac", json=body) as reply,
    ):
        assert reply.status == 201, await reply.text()
    out = await ns_daemon.docker_ok("start", "-a", "mac")
    assert out == f"{mac}\n"
    assert (await _inspect(ns_daemon, "mac"))["Config"]["MacAddress"] == mac
    await ns_daemon.docker_ok("rm", "mac")


async def test_exit_undoes_the_links_and_frees_the_address(ns_daemon: NetnsDaemon) -> None:
    before = await _links(ns_daemon)
    await ns_daemon.docker_ok("run", "-d", "--name", "brief", "busybox", "sleep", "300")
    brief = await _inspect(ns_daemon, "brief")
    sandbox = Path(brief["NetworkSettings"]["SandboxKey"])
    assert await asyncio.to_thread(sandbox.exists)
    assert len(await _links(ns_daemon) - before) == 1  # its veth end on the bridge
    await ns_daemon.docker_ok("stop", "-t", "0", "brief")
    assert not await asyncio.to_thread(sandbox.exists)

    async def veth_gone() -> bool:
        return await _links(ns_daemon) - before == set()

    await _wait_for(veth_gone)  # the veth goes with the namespace
    stopped = (await _inspect(ns_daemon, "brief"))["NetworkSettings"]
    assert (stopped["IPAddress"], stopped["Networks"]["bridge"]["IPAddress"]) == ("", "")
    assert (
        json.loads(await ns_daemon.docker_ok("network", "inspect", "bridge"))[0]["Containers"] == {}
    )
    # The address is free again: a start gets it back.
    await ns_daemon.docker_ok("start", "brief")
    again = await _inspect(ns_daemon, "brief")
    assert again["NetworkSettings"]["IPAddress"] == brief["NetworkSettings"]["IPAddress"]
    await ns_daemon.docker_ok("rm", "-f", "brief")
    assert not await asyncio.to_thread(sandbox.exists)


async def test_user_networks_reach_inside_not_across(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("network", "create", "red")
    await ns_daemon.docker_ok("network", "create", "blue")
    await ns_daemon.docker_ok("run", "-d", "--name", "server", "--network", "red", "busybox",
                              "sh", "-c", HTTPD)  # fmt: skip
    server = await _inspect(ns_daemon, "server")
    address = server["NetworkSettings"]["Networks"]["red"]["IPAddress"]
    assert server["NetworkSettings"]["IPAddress"] == ""  # top-level fields: default bridge only
    assert await _fetch_from_daemon_namespace(ns_daemon, f"http://{address}/")
    # busybox's wget -T crashes (static build), so timeout bounds the unreachable case;
    # "|| exit 1" keeps sh as PID 1 (wget as PID 1 would ignore timeout's SIGTERM).
    fetch = f"timeout 3 wget -qO- http://{address}/ || exit 1"
    same = await ns_daemon.docker("run", "--rm", "--network", "red", "busybox", "sh", "-c", fetch)
    assert same.returncode == 0 and same.stdout.startswith("hello from")
    other = await ns_daemon.docker("run", "--rm", "--network", "blue", "busybox", "sh", "-c", fetch)
    assert other.returncode != 0

    # Connected while running, the client is reachable from the server's network at once.
    await ns_daemon.docker_ok("run", "-d", "--name", "client", "--network", "blue", "busybox",
                              "sleep", "300")  # fmt: skip
    await ns_daemon.docker_ok("network", "connect", "red", "client")
    out = await ns_daemon.docker_ok("exec", "client", "sh", "-c", fetch)
    assert out.startswith("hello from")
    interfaces = await ns_daemon.docker_ok("exec", "client", "ls", "/sys/class/net")
    assert interfaces.split() == ["eth0", "eth1", "lo"]
    await ns_daemon.docker_ok("rm", "-f", "server", "client")
    await ns_daemon.docker_ok("network", "rm", "red", "blue")


async def test_an_internal_network_has_no_route_out(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("network", "create", "--internal", "closed")
    routes = await ns_daemon.docker_ok(
        "run", "--rm", "--network", "closed", "busybox", "sh", "-c", "ip route"
    )
    assert "default" not in routes and "dev eth0" in routes
    await ns_daemon.docker_ok("network", "rm", "closed")


async def test_none_and_host_modes_make_no_links(ns_daemon: NetnsDaemon) -> None:
    before = await _links(ns_daemon)
    out = await ns_daemon.docker_ok(
        "run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"
    )
    assert out.split() == ["lo"]
    out = await ns_daemon.docker_ok(
        "run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"
    )
    assert set(out.split()) == before  # the daemon's own namespace
    assert await _links(ns_daemon) == before


async def test_networking_config_of_create_as_dockerd_takes_it(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("network", "create", "opts-net")
    before = set((await ns_daemon.docker_ok("ps", "-aq")).split())
    one = {"Aliases": ["hello"], "DriverOpts": {"key1": "a"}}
    async with aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=str(ns_daemon.socket))
    ) as session:
        two = {"opts-net": one, "bar": {"Aliases": ["x"]}}
        body = {
            "Image": "busybox",
            "Cmd": ["true"],
            "HostConfig": {"NetworkMode": "opts-net"},
            "NetworkingConfig": {"EndpointsConfig": two},
        }
        async with session.post("http://d/v1.41/containers/create", json=body) as reply:
            # Before API 1.44 a container is made on one network only: nothing is made.
            assert reply.status == 400
            message = (await reply.json())["message"]
            assert message.startswith("Container cannot be connected to network endpoints: ")
        body["NetworkingConfig"] = {"EndpointsConfig": {"opts-net": one}}
        async with session.post("http://d/v1.41/containers/create?name=opts", json=body) as reply:
            assert reply.status == 201, await reply.text()
    made = set((await ns_daemon.docker_ok("ps", "-aq")).split()) - before
    assert len(made) == 1  # the refused create left nothing
    entry = (await _inspect(ns_daemon, "opts"))["NetworkSettings"]["Networks"]["opts-net"]
    assert (entry["Aliases"], entry["DriverOpts"]) == (["hello"], {"key1": "a"})
    # A connect's MAC shows at once, before the container runs (as dockerd shows it).
    await ns_daemon.docker_ok("network", "create", "mac-net")
    async with aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=str(ns_daemon.socket))
    ) as session:
        connect = {"Container": "opts", "EndpointConfig": {"MacAddress": "02:42:ac:11:00:02"}}
        async with session.post("http://d/v1.41/networks/mac-net/connect", json=connect) as reply:
            assert reply.status == 200, await reply.text()
    networks = (await _inspect(ns_daemon, "opts"))["NetworkSettings"]["Networks"]
    assert networks["mac-net"]["MacAddress"] == "02:42:ac:11:00:02"
    ipam = json.loads(await ns_daemon.docker_ok("network", "inspect", "mac-net"))[0]["IPAM"]
    assert ipam["Options"] is None  # none given: null, as dockerd
    await ns_daemon.docker_ok("rm", "opts")
    await ns_daemon.docker_ok("network", "rm", "opts-net", "mac-net")
