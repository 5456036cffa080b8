"""Published ports in a private namespace: reachable on 127.0.0.1 and the host's own
address, from other containers and from the container itself; docker port, ps and
inspect as dockerd shows them; a taken port fails the start with dockerd's text and
leaves nothing behind; the rules survive a daemon restart exactly."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.support.netns import NetnsDaemon, restart_netns_daemon

HTTPD = "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www"
HOST_ADDRESS = "10.99.0.1"  # the "machine's own address" inside the private namespace
DEADLINE = 10.0


async def _host_address(daemon: NetnsDaemon) -> str:
    """An address of the daemon's namespace that is neither loopback nor a bridge's (on
    its lo: the dummy link type may not be loaded), added once per module."""
    addresses = await daemon.netns.check("ip", "-o", "addr", "show", "dev", "lo")
    if HOST_ADDRESS not in addresses:
        await daemon.netns.check("ip", "addr", "add", f"{HOST_ADDRESS}/32", "dev", "lo")
    return HOST_ADDRESS


async def _curl(daemon: NetnsDaemon, url: str) -> str:
    """GET from the daemon's namespace, retried (bounded) until the server answers."""
    async with asyncio.timeout(DEADLINE):
        while True:
            result = await daemon.netns.run("curl", "-s", "-m", "2", url)
            if result.returncode == 0:
                return result.stdout
            await asyncio.sleep(0.05)  # httpd may not listen yet


async def _ruleset(daemon: NetnsDaemon) -> str:
    return await daemon.netns.check("nft", "list", "table", "ip", "moorage")


async def _in_map(daemon: NetnsDaemon, text: str) -> bool:
    return text in await daemon.netns.check("nft", "list", "map", "ip", "moorage", "tcp_any")


def _fetch(url: str) -> str:
    # "|| exit 1" keeps sh as PID 1 so that timeout can end wget (see test_bridge).
    return f"timeout 5 wget -qO- {url} || exit 1"


async def test_a_published_port_is_reachable_from_everywhere(ns_daemon: NetnsDaemon) -> None:
    host = await _host_address(ns_daemon)
    await ns_daemon.docker_ok("run", "-d", "--name", "web", "-p", "18080:80", "busybox",
                              "sh", "-c", HTTPD)  # fmt: skip
    assert await _curl(ns_daemon, "http://127.0.0.1:18080/") == "hello\n"
    assert await _curl(ns_daemon, f"http://{host}:18080/") == "hello\n"
    other = await ns_daemon.docker_ok(
        "run", "--rm", "busybox", "sh", "-c", _fetch(f"http://{host}:18080/")
    )
    assert other == "hello\n"
    # Hairpin: the container through its own published port.
    itself = await ns_daemon.docker_ok("exec", "web", "sh", "-c", _fetch(f"http://{host}:18080/"))
    assert itself == "hello\n"
    await ns_daemon.docker_ok("rm", "-f", "web")
    assert not await _in_map(ns_daemon, "18080")
    refused = await ns_daemon.netns.run("curl", "-s", "-m", "2", "http://127.0.0.1:18080/")
    assert refused.returncode != 0


async def test_port_listings_as_dockerd_shows_them(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("run", "-d", "--name", "listed", "-p", "18081:80",
                              "-p", "127.0.0.1::81/udp", "--expose", "443", "busybox",
                              "sleep", "300")  # fmt: skip
    port = await ns_daemon.docker_ok("port", "listed")
    lines = port.splitlines()
    assert lines[0] == "80/tcp -> 0.0.0.0:18081"
    assert lines[1].startswith("81/udp -> 127.0.0.1:")
    ephemeral = int(lines[1].rsplit(":", 1)[1])
    low, high = (int(n) for n in (await ns_daemon.netns.check(
        "cat", "/proc/sys/net/ipv4/ip_local_port_range")).split())  # fmt: skip
    assert low <= ephemeral <= high
    ps = await ns_daemon.docker_ok("ps", "--filter", "name=listed", "--format", "{{.Ports}}")
    assert ps.strip() == f"443/tcp, 0.0.0.0:18081->80/tcp, 127.0.0.1:{ephemeral}->81/udp"
    ports = json.loads(
        await ns_daemon.docker_ok("inspect", "-f", "{{json .NetworkSettings.Ports}}", "listed")
    )
    assert ports == {
        "443/tcp": None,
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18081"}],
        "81/udp": [{"HostIp": "127.0.0.1", "HostPort": str(ephemeral)}],
    }
    await ns_daemon.docker_ok("stop", "-t", "0", "listed")
    stopped = await ns_daemon.docker_ok(
        "inspect", "-f", "{{json .NetworkSettings.Ports}}", "listed"
    )
    assert json.loads(stopped) == {}
    await ns_daemon.docker_ok("rm", "listed")


async def test_publish_all_picks_ephemeral_ports(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("run", "-d", "--name", "all", "-P", "--expose", "80", "busybox",
                              "sh", "-c", HTTPD)  # fmt: skip
    mapped = (await ns_daemon.docker_ok("port", "all", "80/tcp")).strip()
    host_port = int(mapped.rsplit(":", 1)[1])
    assert await _curl(ns_daemon, f"http://127.0.0.1:{host_port}/") == "hello\n"
    await ns_daemon.docker_ok("rm", "-f", "all")


@asynccontextmanager
async def _port_held_by_a_process(daemon: NetnsDaemon, port: int) -> AsyncIterator[None]:
    """A process in the daemon's namespace listening on `port` (not a container)."""
    holder = await asyncio.create_subprocess_exec(
        *daemon.netns.argv(
            sys.executable,
            "-c",
            "import socket, sys; s = socket.socket(); "
            f"s.bind(('0.0.0.0', {port})); s.listen(); print('ready', flush=True); "
            "sys.stdin.read()",
        ),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        async with asyncio.timeout(DEADLINE):
            assert await holder.stdout.readline() == b"ready\n"
        yield
    finally:
        holder.kill()
        await holder.wait()


async def _traces(daemon: NetnsDaemon) -> tuple[str, set[str], set[str]]:
    links = await daemon.netns.check("ip", "-o", "link", "show")
    names = {line.split(":")[1].strip().split("@")[0] for line in links.splitlines()}
    sandboxes = set()
    netns_dir = daemon.exec_root / "netns"
    if await asyncio.to_thread(netns_dir.exists):
        sandboxes = {p.name for p in await asyncio.to_thread(lambda: list(netns_dir.iterdir()))}
    return await _ruleset(daemon), names, sandboxes


async def test_a_taken_port_fails_the_start_and_leaves_nothing(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("run", "-d", "--name", "first", "-p", "18082:80", "busybox",
                              "sleep", "300")  # fmt: skip
    before = await _traces(ns_daemon)
    failed = await ns_daemon.docker("run", "-d", "--name", "second", "-p", "18082:80",
                                    "busybox", "sleep", "300")  # fmt: skip
    assert failed.returncode == 125
    second_id = (await ns_daemon.docker_ok("inspect", "-f", "{{.Id}}", "second")).strip()
    message = failed.stderr.splitlines()[0]
    assert message.startswith(
        "docker: Error response from daemon: driver failed programming external "
        "connectivity on endpoint second ("
    )
    assert message.endswith("): Bind for 0.0.0.0:18082 failed: port is already allocated")
    assert await _traces(ns_daemon) == before
    assert second_id not in before[2]

    async with _port_held_by_a_process(ns_daemon, 18083):
        failed = await ns_daemon.docker("run", "-d", "--name", "third", "-p", "18083:80",
                                        "busybox", "sleep", "300")  # fmt: skip
        assert failed.returncode == 125
        assert failed.stderr.splitlines()[0].endswith(
            "Error starting userland proxy: listen tcp4 0.0.0.0:18083: bind: address already in use"
        )
        assert await _traces(ns_daemon) == before
    # Once the port is free the same container starts.
    await ns_daemon.docker_ok("start", "third")
    assert await _in_map(ns_daemon, "18083")
    await ns_daemon.docker_ok("rm", "-f", "first", "second", "third")


async def test_rules_and_ports_survive_a_daemon_restart(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("run", "-d", "--name", "kept", "-p", "18084:80", "busybox",
                              "sh", "-c", HTTPD)  # fmt: skip
    assert await _curl(ns_daemon, "http://127.0.0.1:18084/") == "hello\n"
    rules = await _ruleset(ns_daemon)
    await restart_netns_daemon(ns_daemon)
    assert await _ruleset(ns_daemon) == rules
    assert await _curl(ns_daemon, "http://127.0.0.1:18084/") == "hello\n"
    # The port is held again by the daemon: another container cannot take it.
    failed = await ns_daemon.docker("run", "--rm", "-p", "18084:80", "busybox", "true")
    assert "port is already allocated" in failed.stderr
    await ns_daemon.docker_ok("rm", "-f", "kept")
    assert not await _in_map(ns_daemon, "18084")
