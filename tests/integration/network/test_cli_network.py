"""`docker network` commands against a mooraged in a private namespace: dockerd's outputs,
errors and default address pools; networks and addresses survive a daemon restart."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.daemon import api_call
from tests.support.netns import NetnsDaemon, restart_netns_daemon


async def _inspect(daemon: NetnsDaemon, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(await daemon.docker_ok("network", "inspect", name))
    assert len(found) == 1
    return found[0]


async def _error(daemon: NetnsDaemon, *args: str) -> str:
    result = await daemon.docker(*args)
    assert result.returncode != 0, f"docker {' '.join(args)} succeeded: {result.stdout}"
    # The daemon's message is the first line (CLI 28 may add "exit status 1" below it).
    return result.stderr.strip().splitlines()[0]


async def test_predefined_networks(ns_daemon: NetnsDaemon) -> None:
    listing = await ns_daemon.docker_ok(
        "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"
    )
    assert listing.splitlines() == ["bridge bridge local", "host host local", "none null local"]
    bridge = await _inspect(ns_daemon, "bridge")
    assert bridge["IPAM"] == {
        "Driver": "default",
        "Options": None,
        "Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}],
    }
    # Its device is the daemon's own, never docker0.
    assert bridge["Options"]["com.docker.network.bridge.name"] == "moorage0"
    assert (await _inspect(ns_daemon, "none"))["IPAM"]["Config"] == []
    assert re.fullmatch(r"[0-9a-f]{64}", bridge["Id"])
    for name in ("bridge", "host", "none"):
        assert await _error(ns_daemon, "network", "rm", name) == (
            f"Error response from daemon: {name} is a pre-defined network and cannot be removed"
        )
    assert await _error(ns_daemon, "network", "create", "host") == (
        "Error response from daemon: operation is not permitted on predefined host network"
    )


async def test_create_inspect_list_and_remove(ns_daemon: NetnsDaemon) -> None:
    created = (await ns_daemon.docker_ok("network", "create", "front")).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", created)
    front = await _inspect(ns_daemon, "front")
    assert front["Id"] == created
    assert (front["Driver"], front["Scope"], front["Internal"]) == ("bridge", "local", False)
    # The next default pool after the bridge's.
    assert front["IPAM"]["Config"] == [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]
    assert front["Containers"] == {} and front["Labels"] == {}
    # By id prefix too, as dockerd finds networks.
    assert (await _inspect(ns_daemon, created[:12]))["Name"] == "front"

    await ns_daemon.docker_ok(
        "network", "create", "--subnet", "10.10.0.0/24", "--gateway", "10.10.0.254",
        "--ip-range", "10.10.0.128/25", "--internal", "--attachable", "--label", "tier=back",
        "-o", "com.docker.network.bridge.name=mbr-test", "back",
    )  # fmt: skip
    back = await _inspect(ns_daemon, "back")
    assert back["IPAM"]["Config"] == [
        {"Subnet": "10.10.0.0/24", "IPRange": "10.10.0.128/25", "Gateway": "10.10.0.254"}
    ]
    assert (back["Internal"], back["Attachable"]) == (True, True)
    assert back["Labels"] == {"tier": "back"}
    assert back["Options"] == {"com.docker.network.bridge.name": "mbr-test"}

    assert await _error(ns_daemon, "network", "create", "front") == (
        "Error response from daemon: network with name front already exists"
    )
    assert await _error(ns_daemon, "network", "create", "--subnet", "10.10.0.0/16", "x") == (
        "Error response from daemon: Pool overlaps with other one on this address space"
    )
    assert await _error(ns_daemon, "network", "create", "-d", "nosuch", "x") == (
        'Error response from daemon: plugin "nosuch" not found'
    )
    assert "x" not in (await ns_daemon.docker_ok("network", "ls", "-q", "-f", "name=^x$"))

    def names(out: str) -> list[str]:
        return out.split()

    ls = ("network", "ls", "--format", "{{.Name}}")
    assert names(await ns_daemon.docker_ok(*ls, "-f", "type=custom")) == ["back", "front"]
    assert names(await ns_daemon.docker_ok(*ls, "-f", "type=builtin")) == [
        "bridge",
        "host",
        "none",
    ]
    assert names(await ns_daemon.docker_ok(*ls, "-f", "label=tier=back")) == ["back"]
    assert names(await ns_daemon.docker_ok(*ls, "-f", "name=fro")) == ["front"]
    assert names(await ns_daemon.docker_ok(*ls, "-f", "driver=null")) == ["none"]
    assert names(await ns_daemon.docker_ok(*ls, "-f", f"id={created[:10]}")) == ["front"]
    assert names(await ns_daemon.docker_ok(*ls, "-f", "dangling=true")) == ["back", "front"]
    assert await _error(ns_daemon, *ls, "-f", "colour=red") == (
        "Error response from daemon: Invalid filter 'colour'"
    )

    assert "network nosuch not found" in await _error(ns_daemon, "network", "rm", "nosuch")
    assert (await ns_daemon.docker_ok("network", "rm", "front", "back")).split() == [
        "front",
        "back",
    ]
    assert names(await ns_daemon.docker_ok(*ls, "-f", "type=custom")) == []


async def test_connect_disconnect_and_removal_in_use(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("network", "create", "--subnet", "10.20.0.0/24", "app")
    await ns_daemon.docker_ok("create", "--name", "c1", "busybox", "sleep", "300")
    await ns_daemon.docker_ok("create", "--name", "c2", "busybox", "sleep", "300")
    await ns_daemon.docker_ok("network", "connect", "--alias", "web", "app", "c1")
    await ns_daemon.docker_ok("network", "connect", "--ip", "10.20.0.50", "app", "c2")
    # Configured, not running: no endpoint yet, as in dockerd.
    assert (await _inspect(ns_daemon, "app"))["Containers"] == {}
    c2_app = json.loads(
        await ns_daemon.docker_ok("inspect", "-f", "{{json .NetworkSettings.Networks.app}}", "c2")
    )
    assert c2_app["IPAMConfig"] == {"IPv4Address": "10.20.0.50"}
    assert (c2_app["IPAddress"], c2_app["EndpointID"]) == ("", "")
    # Stopped and connected again: dockerd 20.10.24 keeps what it has and answers 200
    # (observed; a running container gets the 403, test_connect_refusals).
    await ns_daemon.docker_ok("network", "connect", "--alias", "other", "app", "c1")
    c1_aliases = await ns_daemon.docker_ok(
        "inspect", "-f", "{{json .NetworkSettings.Networks.app.Aliases}}", "c1"
    )
    assert "web" in json.loads(c1_aliases) and "other" not in json.loads(c1_aliases)
    assert "No such container: nosuch" in await _error(
        ns_daemon, "network", "connect", "app", "nosuch"
    )

    await ns_daemon.docker_ok("start", "c1", "c2")
    app = await _inspect(ns_daemon, "app")
    by_name = {entry["Name"]: entry for entry in app["Containers"].values()}
    assert by_name["c1"]["IPv4Address"] == "10.20.0.2/24"
    assert by_name["c1"]["MacAddress"] == "02:42:0a:14:00:02"
    assert by_name["c2"]["IPv4Address"] == "10.20.0.50/24"
    assert re.fullmatch(r"[0-9a-f]{64}", by_name["c1"]["EndpointID"])
    c1_app = json.loads(
        await ns_daemon.docker_ok("inspect", "-f", "{{json .NetworkSettings.Networks.app}}", "c1")
    )
    c1_id = (await ns_daemon.docker_ok("inspect", "-f", "{{.Id}}", "c1")).strip()
    # The CLI speaks 1.50: from API 1.45 Aliases are what was asked for; the short ID
    # is among the DNSNames (1.44).
    assert c1_app["Aliases"] == ["web"]
    assert c1_app["DNSNames"] == ["c1", "web", c1_id[:12]]
    assert c1_app["EndpointID"] == by_name["c1"]["EndpointID"]

    removal = await _error(ns_daemon, "network", "rm", "app")
    assert removal == (
        f"Error response from daemon: error while removing network: network app id "
        f"{app['Id']} has active endpoints"
    )
    # dangling means without active endpoints: app has two.
    dangling = await ns_daemon.docker_ok("network", "ls", "-q", "-f", "dangling=true")
    assert app["Id"][:12] not in dangling.split()

    # A running container is unplugged at once.
    await ns_daemon.docker_ok("network", "disconnect", "app", "c1")
    links = await ns_daemon.docker_ok("exec", "c1", "ls", "/sys/class/net")
    assert links.split() == ["eth0", "lo"]  # eth0: the default bridge's; eth1 is gone
    # Removing a container releases its endpoint and address.
    await ns_daemon.docker_ok("rm", "-f", "c2")
    assert (await _inspect(ns_daemon, "app"))["Containers"] == {}
    await ns_daemon.docker_ok("network", "connect", "app", "c1")
    app = await _inspect(ns_daemon, "app")
    assert [e["IPv4Address"] for e in app["Containers"].values()] == ["10.20.0.2/24"]
    await ns_daemon.docker_ok("rm", "-f", "c1")
    await ns_daemon.docker_ok("network", "rm", "app")


async def test_start_after_a_connected_network_was_removed(ns_daemon: NetnsDaemon) -> None:
    """What dockerd 20.10.24 answered: a network connected to a stopped container and then
    removed keeps the container from starting (404, its state stays created with exit code
    128 and the error) until a network of that name exists again; then it joins that one."""
    await ns_daemon.docker_ok("network", "create", "gone")
    cid = await ns_daemon.docker_ok("create", "--name", "orphan", "busybox", "sleep", "300")
    cid = cid.strip()
    await ns_daemon.docker_ok("network", "connect", "--alias", "kept", "gone", "orphan")
    await ns_daemon.docker_ok("network", "rm", "gone")

    async def start() -> tuple[int, str]:
        reply = await api_call(ns_daemon.socket, "POST", f"/containers/{cid}/start")
        return reply.status, reply.message if reply.body else ""

    assert await start() == (404, "network gone not found")
    state = json.loads(await ns_daemon.docker_ok("inspect", "-f", "{{json .State}}", cid))
    assert (state["Status"], state["ExitCode"], state["Error"]) == (
        "created",
        128,
        "network gone not found",
    )
    await restart_netns_daemon(ns_daemon)  # the membership is kept on disk
    assert await start() == (404, "network gone not found")

    await ns_daemon.docker_ok("network", "create", "gone")
    assert await start() == (204, "")
    (entry,) = (await _inspect(ns_daemon, "gone"))["Containers"].values()
    assert entry["Name"] == "orphan"
    joined = await ns_daemon.docker_ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", cid)
    assert json.loads(joined)["gone"]["Aliases"] == ["kept"]
    await ns_daemon.docker_ok("rm", "-f", "orphan")
    await ns_daemon.docker_ok("network", "rm", "gone")

    # Or the container lets it go: disconnecting the removed network is dockerd's 200.
    await ns_daemon.docker_ok("network", "create", "gone")
    await ns_daemon.docker_ok("create", "--name", "orphan2", "busybox", "sleep", "300")
    await ns_daemon.docker_ok("network", "connect", "gone", "orphan2")
    await ns_daemon.docker_ok("network", "rm", "gone")
    assert "network gone not found" in await _error(ns_daemon, "start", "orphan2")
    await ns_daemon.docker_ok("network", "disconnect", "gone", "orphan2")
    await ns_daemon.docker_ok("start", "orphan2")
    await ns_daemon.docker_ok("rm", "-f", "orphan2")


async def test_inspect_keeps_a_removed_network(ns_daemon: NetnsDaemon) -> None:
    """What dockerd 20.10.24 showed: a stopped container keeps listing a network removed
    after it, with its aliases and IPAMConfig, no address, and as NetworkID the id the
    network had at the container's last start on it ("" if it never started on it). Its
    start then looks that network up by that id: a new network of the name does not do."""
    await ns_daemon.docker_ok("network", "create", "--subnet", "10.31.0.0/24", "ran")
    ran_id = (await _inspect(ns_daemon, "ran"))["Id"]
    await ns_daemon.docker_ok("network", "create", "never")
    created = await ns_daemon.docker_ok("create", "--name", "keeper", "--network", "ran",
                                        "--ip", "10.31.0.7", "busybox", "sleep", "300")  # fmt: skip
    cid = created.strip()
    await ns_daemon.docker_ok("start", "keeper")
    await ns_daemon.docker_ok("kill", "keeper")
    await ns_daemon.docker_ok("wait", "keeper")
    await ns_daemon.docker_ok("network", "connect", "--alias", "al", "never", "keeper")
    await ns_daemon.docker_ok("network", "rm", "ran", "never")

    async def networks() -> dict[str, Any]:
        reply = await api_call(ns_daemon.socket, "GET", f"/containers/{cid}/json")
        assert reply.status == 200
        found: dict[str, Any] = reply.json()["NetworkSettings"]["Networks"]
        return found

    async def start() -> tuple[int, str]:
        reply = await api_call(ns_daemon.socket, "POST", f"/containers/{cid}/start")
        return reply.status, reply.message if reply.body else ""

    unset = {"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
             "MacAddress": "", "IPv6Gateway": "", "GlobalIPv6Address": "",
             "GlobalIPv6PrefixLen": 0, "Links": None}  # fmt: skip
    kept = await networks()
    assert sorted(kept) == ["never", "ran"]
    assert (
        kept["ran"].items()
        >= {**unset, "IPAMConfig": {"IPv4Address": "10.31.0.7"}, "NetworkID": ran_id}.items()
    )
    assert kept["never"].items() >= {**unset, "NetworkID": ""}.items()
    assert "al" in kept["never"]["Aliases"]
    listed = await api_call(ns_daemon.socket, "GET", "/containers/json",
                            params=[("all", "1"), ("filters", '{"name": ["keeper"]}')])  # fmt: skip
    assert sorted(listed.json()[0]["NetworkSettings"]["Networks"]) == ["never", "ran"]
    await restart_netns_daemon(ns_daemon)
    assert await networks() == kept

    await ns_daemon.docker_ok("network", "disconnect", "never", "keeper")
    assert sorted(await networks()) == ["ran"]
    await ns_daemon.docker_ok("network", "create", "ran")
    assert await start() == (404, f"network {ran_id} not found")
    assert sorted(await networks()) == ["ran"]
    # Disconnecting by the name lets the removed one go (the new one it never joined).
    await ns_daemon.docker_ok("network", "disconnect", "ran", "keeper")
    assert await start() == (204, "")
    assert await networks() == {}
    await ns_daemon.docker_ok("rm", "-f", "keeper")
    await ns_daemon.docker_ok("network", "rm", "ran")


async def test_disconnect_answers(ns_daemon: NetnsDaemon) -> None:
    """POST /networks/{id}/disconnect as dockerd 20.10.24 answered (observed): a second
    disconnect is a 500 whose text tells a running container (`to network`) from a stopped
    one (`to the network`, from its settings); a network that does not exist is a 404 only
    for a running container not forced; the container is looked up before the network."""
    await ns_daemon.docker_ok("network", "create", "dn")
    running = (await ns_daemon.docker_ok("run", "-d", "--name", "r1", "--network", "dn",
                                         "busybox", "sleep", "300")).strip()  # fmt: skip
    stopped = (await ns_daemon.docker_ok("create", "--name", "s1", "--network", "dn",
                                         "busybox", "sleep", "300")).strip()  # fmt: skip

    async def disconnect(network: str, container: str, force: bool) -> tuple[int, str]:
        body = {"Container": container, "Force": force}
        reply = await api_call(ns_daemon.socket, "POST", f"/networks/{network}/disconnect",
                               body=body)  # fmt: skip
        return reply.status, reply.message if reply.body else ""

    for cid, the in ((running, ""), (stopped, "the ")):
        assert await disconnect("dn", cid[:12], True) == (200, "")
        again = (500, f"container {cid} is not connected to {the}network dn")
        assert await disconnect("dn", cid[:12], True) == again
        assert await disconnect("dn", cid[:12], False) == again
    assert await disconnect("nosuch", "r1", False) == (404, "network nosuch not found")
    gone = f"container {running} is not connected to the network nosuch"
    assert await disconnect("nosuch", "r1", True) == (500, gone)
    gone = f"container {stopped} is not connected to the network nosuch"
    for force in (False, True):
        assert await disconnect("nosuch", "s1", force) == (500, gone)
    assert await disconnect("nosuch", "nosuchc", False) == (404, "No such container: nosuchc")
    assert await disconnect("nosuch", "nosuchc", True) == (404, "network nosuch not found")
    assert await disconnect("dn", "nosuchc", True) == (404, "endpoint nosuchc not found")
    assert (await _inspect(ns_daemon, "dn"))["Containers"] == {}
    await ns_daemon.docker_ok("rm", "-f", "r1", "s1")
    await ns_daemon.docker_ok("network", "rm", "dn")


async def test_connect_refusals(ns_daemon: NetnsDaemon) -> None:
    """POST /networks/{id}/connect (and disconnect of host and none) as dockerd 20.10.24
    answered (observed, with its default bridge): the container is looked up first; the
    conflicts of host, none and shared namespaces are 400s; a stopped container connected
    again keeps its settings (200)."""
    await ns_daemon.docker_ok("network", "create", "cn")
    await ns_daemon.docker_ok("create", "--name", "cs", "busybox", "sleep", "300")
    await ns_daemon.docker_ok("run", "-d", "--name", "cr", "--network", "cn", "busybox",
                              "sleep", "300")  # fmt: skip
    await ns_daemon.docker_ok("run", "-d", "--name", "ch", "--network", "host", "busybox",
                              "sleep", "300")  # fmt: skip
    await ns_daemon.docker_ok("run", "-d", "--name", "cnone", "--network", "none", "busybox",
                              "sleep", "300")  # fmt: skip
    await ns_daemon.docker_ok("create", "--name", "csn", "--network", "none", "busybox",
                              "sleep", "300")  # fmt: skip

    async def post(path: str, body: dict[str, Any]) -> tuple[int, str]:
        reply = await api_call(ns_daemon.socket, "POST", path, body=body)
        return reply.status, reply.message if reply.body else ""

    shared = ("container sharing network namespace with another container or host cannot be "
              "connected to any other network")  # fmt: skip
    host = "container cannot be disconnected from host network or connected to host network"
    none = ("container cannot be connected to multiple networks with one of the networks in "
            "private (none) mode")  # fmt: skip
    alias = "network-scoped alias is supported only for containers in user defined networks"
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/networks/nosuch/connect", {"Container": "nosuch"}, 404, "No such container: nosuch"),
        ("/networks/cn/connect", {}, 400, 'invalid name or ID supplied: ""'),
        ("/networks/cn/disconnect", {"Container": ""}, 400, 'invalid name or ID supplied: ""'),
        ("/networks/cn/connect", {"Container": "cs"}, 200, ""),
        ("/networks/cn/connect", {"Container": "cs", "EndpointConfig": {"Aliases": ["z"]}},
         200, ""),
        ("/networks/cn/connect", {"Container": "cr"}, 403,
         "endpoint with name cr already exists in network cn"),
        ("/networks/bridge/connect", {"Container": "cr", "EndpointConfig": {"Aliases": ["q"]}},
         400, alias),
        ("/networks/cn/connect", {"Container": "ch"}, 400, shared),
        ("/networks/host/connect", {"Container": "cs"}, 400, host),
        ("/networks/none/connect", {"Container": "cs"}, 400, none),
        ("/networks/cn/connect", {"Container": "cnone"}, 400, none),
        ("/networks/cn/connect", {"Container": "csn"}, 400, none),
        ("/networks/host/disconnect", {"Container": "ch"}, 400, host),
        ("/networks/none/disconnect", {"Container": "cnone"}, 200, ""),
        ("/networks/none/disconnect", {"Container": "csn"}, 200, ""),
    ]  # fmt: skip
    for path, body, status, message in cases:
        assert await post(path, body) == (status, message), (path, body)
    cs = await ns_daemon.docker_ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", "cs")
    assert "z" not in (json.loads(cs)["cn"]["Aliases"] or [])  # the first connect's, kept
    cnone = await ns_daemon.docker_ok("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                                      "cnone")  # fmt: skip
    assert "cn" not in json.loads(cnone)
    await ns_daemon.docker_ok("rm", "-f", "cs", "cr", "ch", "cnone", "csn")
    await ns_daemon.docker_ok("network", "rm", "cn")


async def test_prune_removes_networks_without_active_endpoints(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("network", "create", "--label", "keep=yes", "kept")
    await ns_daemon.docker_ok("network", "create", "spare")
    await ns_daemon.docker_ok("network", "create", "busy")
    await ns_daemon.docker_ok("run", "-d", "--name", "user", "--network", "busy", "busybox",
                              "sleep", "300")  # fmt: skip
    out = await ns_daemon.docker_ok("network", "prune", "-f", "--filter", "label!=keep=yes")
    assert out == "Deleted Networks:\nspare\n\n"
    names = await ns_daemon.docker_ok("network", "ls", "--format", "{{.Name}}")
    assert names.split() == ["bridge", "busy", "host", "kept", "none"]
    await ns_daemon.docker_ok("rm", "-f", "user")
    assert (await ns_daemon.docker_ok("network", "prune", "-f")).split() == [
        "Deleted",
        "Networks:",
        "busy",
        "kept",
    ]


async def test_networks_and_addresses_survive_a_restart(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("network", "create", "lasting")
    await ns_daemon.docker_ok("run", "-d", "--name", "holder", "--network", "lasting",
                              "busybox", "sleep", "300")  # fmt: skip
    before = {n: await _inspect(ns_daemon, n) for n in ("bridge", "lasting")}
    await restart_netns_daemon(ns_daemon)
    after = {n: await _inspect(ns_daemon, n) for n in ("bridge", "lasting")}
    assert after == before
    # The running container kept its address; the next one gets the next address.
    await ns_daemon.docker_ok("run", "-d", "--name", "second", "--network", "lasting",
                              "busybox", "sleep", "300")  # fmt: skip
    lasting = await _inspect(ns_daemon, "lasting")
    addresses = sorted(e["IPv4Address"] for e in lasting["Containers"].values())
    subnet = lasting["IPAM"]["Config"][0]["Subnet"].removesuffix(".0.0/16")
    assert addresses == [f"{subnet}.0.2/16", f"{subnet}.0.3/16"]
    holder_ip = addresses[0].split("/")[0]
    out = await ns_daemon.docker_ok("exec", "second", "sh", "-c", f"ping -c 1 -W 2 {holder_ip}")
    assert "1 packets received" in out
    await ns_daemon.docker_ok("rm", "-f", "holder", "second")
    await ns_daemon.docker_ok("network", "rm", "lasting")


async def test_run_with_alias_and_address(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("network", "create", "--subnet", "10.30.0.0/24", "fixed")
    await ns_daemon.docker_ok("run", "-d", "--name", "pinned", "--network", "fixed",
                              "--network-alias", "db", "--ip", "10.30.0.9", "busybox",
                              "sleep", "300")  # fmt: skip
    fixed = json.loads(
        await ns_daemon.docker_ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", "pinned")
    )["fixed"]
    pinned_id = (await ns_daemon.docker_ok("inspect", "-f", "{{.Id}}", "pinned")).strip()
    assert fixed["IPAddress"] == "10.30.0.9"
    assert fixed["IPAMConfig"] == {"IPv4Address": "10.30.0.9"}
    assert fixed["Aliases"] == ["db"]  # the CLI speaks 1.50: no short ID since 1.45
    assert pinned_id[:12] in fixed["DNSNames"]
    seen = await ns_daemon.docker_ok("exec", "pinned", "sh", "-c", "ip -4 -o addr show eth0")
    assert "inet 10.30.0.9/24" in seen

    # On the default bridge dockerd refuses both, and nothing is made.
    before = await ns_daemon.docker_ok("ps", "-aq")
    assert await _error(ns_daemon, "run", "--ip", "172.17.0.9", "busybox", "true") == (
        "docker: Error response from daemon: user specified IP address is supported on user "
        "defined networks only"
    )
    # (The CLI refuses an alias on the default network itself; the API answers too.)
    body = {"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"bridge": {
        "Aliases": ["x"]}}}, "HostConfig": {"NetworkMode": "bridge"}}  # fmt: skip
    reply = await ns_daemon.netns.run(
        "curl", "-s", "-w", "\n%{http_code}", "--unix-socket", str(ns_daemon.socket),
        "-H", "Content-Type: application/json", "-d", json.dumps(body),
        "http://moorage/v1.41/containers/create",
    )  # fmt: skip
    message, status = reply.stdout.rsplit("\n", 1)
    assert (status, json.loads(message)) == ("400", {
        "message": "network-scoped alias is supported only for containers in user defined "
        "networks"})  # fmt: skip
    assert await _error(
        ns_daemon, "create", "--network", "fixed", "--ip", "10.31.0.9", "busybox", "true"
    ) == (
        "Error response from daemon: Invalid address 10.31.0.9: It does not belong to any of "
        "this network's subnets"
    )
    assert await ns_daemon.docker_ok("ps", "-aq") == before
    await ns_daemon.docker_ok("rm", "-f", "pinned")
    await ns_daemon.docker_ok("network", "rm", "fixed")
