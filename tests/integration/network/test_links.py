"""Legacy links on the default bridge, in a private namespace: `--link name:alias`
gives the parent an /etc/hosts line and the variables dockerd 20.10 writes, inspect
keeps Links as "/child:/parent/alias", and dockerd's errors for a missing or stopped
child."""

from __future__ import annotations

import json
from typing import Any

from daemon.network.legacy_links import Target, environment
from tests.support.netns import NetnsDaemon


async def _inspect(daemon: NetnsDaemon, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(await daemon.docker_ok("inspect", name))
    return found[0]


async def test_a_link_gives_hosts_and_environment(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("run", "-d", "--name", "db", "-e", "MYVAR=x y", "--expose",
                              "5432", "--expose", "8000-8002/udp", "busybox",
                              "sleep", "300")  # fmt: skip
    db = await _inspect(ns_daemon, "db")
    ip, hostname = db["NetworkSettings"]["IPAddress"], db["Config"]["Hostname"]
    await ns_daemon.docker_ok("run", "-d", "--name", "app", "--link", "db:store",
                              "busybox", "sleep", "300")  # fmt: skip
    app = await _inspect(ns_daemon, "app")
    assert app["HostConfig"]["Links"] == ["/db:/app/store"]
    hosts = await ns_daemon.docker_ok("exec", "app", "cat", "/etc/hosts")
    assert f"{ip}\tstore {hostname} db\n" in hosts
    # The init process's environment. A range repeats 8000's ADDR and PROTO, as dockerd's
    # does; runc keeps the first of equal keys.
    env = (await ns_daemon.docker_ok("run", "--rm", "--name", "app2", "--link", "db:store",
                                     "busybox", "env")).splitlines()  # fmt: skip
    linked = [line for line in env if line.startswith("STORE_")]
    assert linked == [
        f"STORE_PORT=tcp://{ip}:5432",
        f"STORE_PORT_8000_UDP_START=udp://{ip}:8000",
        f"STORE_PORT_8000_UDP_ADDR={ip}",
        "STORE_PORT_8000_UDP_PROTO=udp",
        "STORE_PORT_8000_UDP_PORT_START=8000",
        f"STORE_PORT_8000_UDP_END=udp://{ip}:8002",
        "STORE_PORT_8000_UDP_PORT_END=8002",
        f"STORE_PORT_5432_TCP=tcp://{ip}:5432",
        f"STORE_PORT_5432_TCP_ADDR={ip}",
        "STORE_PORT_5432_TCP_PORT=5432",
        "STORE_PORT_5432_TCP_PROTO=tcp",
        f"STORE_PORT_8000_UDP=udp://{ip}:8000",
        "STORE_PORT_8000_UDP_PORT=8000",
        *[
            line
            for port in (8001, 8002)
            for line in (
                f"STORE_PORT_{port}_UDP=udp://{ip}:{port}",
                f"STORE_PORT_{port}_UDP_ADDR={ip}",
                f"STORE_PORT_{port}_UDP_PORT={port}",
                f"STORE_PORT_{port}_UDP_PROTO=udp",
            )
        ],
        "STORE_NAME=/app2/store",
        "STORE_ENV_MYVAR=x y",
    ]
    ping = await ns_daemon.docker_ok("exec", "app", "sh", "-c", "ping -c 1 -W 2 store")
    assert "1 packets received" in ping

    # A link by name alone: the alias is the name, written once.
    # (-w: the container's own random hostname may hold "db", as 2dbeb911a959 did)
    alone = await ns_daemon.docker_ok("run", "--rm", "--link", "db", "busybox",
                                      "grep", "-w", "db", "/etc/hosts")  # fmt: skip
    assert alone == f"{ip}\tdb {hostname}\n"

    # db starts again elsewhere (its address taken meanwhile): app's hosts follows it.
    await ns_daemon.docker_ok("stop", "-t", "0", "db")
    await ns_daemon.docker_ok("run", "-d", "--name", "filler", "busybox", "sleep", "300")
    filler = await _inspect(ns_daemon, "filler")
    assert filler["NetworkSettings"]["IPAddress"] == ip
    await ns_daemon.docker_ok("start", "db")
    moved = (await _inspect(ns_daemon, "db"))["NetworkSettings"]["IPAddress"]
    assert moved != ip
    hosts = await ns_daemon.docker_ok("exec", "app", "cat", "/etc/hosts")
    assert f"{moved}\tstore {hostname} db\n" in hosts
    ping = await ns_daemon.docker_ok("exec", "app", "sh", "-c", "ping -c 1 -W 2 store")
    assert f"PING store ({moved})" in ping
    await ns_daemon.docker_ok("rm", "-f", "app", "db", "filler")


async def test_link_errors_are_dockerds(ns_daemon: NetnsDaemon) -> None:
    missing = await ns_daemon.docker("run", "--rm", "--link", "nosuch:x", "busybox", "true")
    assert "could not get container for nosuch: No such container: nosuch" in missing.stderr
    await ns_daemon.docker_ok("create", "--name", "sleeper", "busybox", "true")
    failed = await ns_daemon.docker("run", "--name", "linker", "--link", "sleeper:s",
                                    "busybox", "true")  # fmt: skip
    assert "Cannot link to a non running container: /sleeper AS /linker/s" in failed.stderr
    assert (await _inspect(ns_daemon, "linker"))["State"]["Running"] is False
    await ns_daemon.docker_ok("rm", "-f", "sleeper", "linker")


async def test_rm_link_drops_the_link_and_keeps_both_containers(ns_daemon: NetnsDaemon) -> None:
    await ns_daemon.docker_ok("run", "-d", "--name", "rl-child", "busybox", "sleep", "300")
    await ns_daemon.docker_ok(
        "run", "-d", "--name", "rl-parent", "--link", "rl-child:mylink", "busybox", "sleep", "300"
    )
    await ns_daemon.docker_ok("rm", "--link", "rl-parent/mylink")
    parent = await _inspect(ns_daemon, "rl-parent")
    assert parent["HostConfig"]["Links"] is None and parent["State"]["Running"]
    assert (await _inspect(ns_daemon, "rl-child"))["State"]["Running"]
    again = await ns_daemon.docker("rm", "--link", "rl-parent/mylink")
    assert again.returncode == 1 and "No such container: rl-parent/mylink" in again.stderr
    await ns_daemon.docker_ok("rm", "-f", "rl-parent", "rl-child")


def test_ports_sort_by_number_with_tcp_first() -> None:
    child = Target("id", "/c", "h", ["53/udp", "53/tcp", "22"], ["HOME=/root", "A=1"], "", True)
    assert environment("/p/c", "my-db", "10.0.0.2", child) == [
        "MY_DB_PORT=tcp://10.0.0.2:22",
        "MY_DB_PORT_22_TCP=tcp://10.0.0.2:22",
        "MY_DB_PORT_22_TCP_ADDR=10.0.0.2",
        "MY_DB_PORT_22_TCP_PORT=22",
        "MY_DB_PORT_22_TCP_PROTO=tcp",
        "MY_DB_PORT_53_TCP=tcp://10.0.0.2:53",
        "MY_DB_PORT_53_TCP_ADDR=10.0.0.2",
        "MY_DB_PORT_53_TCP_PORT=53",
        "MY_DB_PORT_53_TCP_PROTO=tcp",
        "MY_DB_PORT_53_UDP=udp://10.0.0.2:53",
        "MY_DB_PORT_53_UDP_ADDR=10.0.0.2",
        "MY_DB_PORT_53_UDP_PORT=53",
        "MY_DB_PORT_53_UDP_PROTO=udp",
        "MY_DB_NAME=/p/c",
        "MY_DB_ENV_A=1",
    ]
