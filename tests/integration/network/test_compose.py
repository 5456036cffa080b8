"""docker-compose (Debian's 1.29.2, installed by scripts/setup.sh) end to end against a
mooraged in a private namespace: a project with the default network, a `web` service
with a published port and a `client` that depends on it and fetches http://web/ by its
service name; up, ps, logs, exec, port, restart, run and down, which removes the
network."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.integration.network.test_bridge import _fetch_from_daemon_namespace as fetch_until_served
from tests.support.commands import Result, run_command
from tests.support.netns import NetnsDaemon

DEADLINE = 20.0
PROJECT = """\
version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello from web > /www/index.html
      && exec httpd -f -v -p 80 -h /www"]
    ports:
      - "18090:80"
  client:
    image: busybox
    depends_on:
      - web
    command: ["sh", "-c", "until wget -qO- http://web/; do sleep 0.2; done; exec sleep 300"]
"""

pytestmark = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is installed by setup.sh"
)


async def _compose(daemon: NetnsDaemon, project: Path, *args: str) -> Result:
    env = {**daemon.env(), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    argv = ["docker-compose", "-p", "demo", "-f", str(project / "docker-compose.yml"), *args]
    return await run_command(argv, env=env)


async def _compose_ok(daemon: NetnsDaemon, project: Path, *args: str) -> Result:
    result = await _compose(daemon, project, *args)
    assert result.returncode == 0, f"docker-compose {' '.join(args)}: {result.stderr}"
    return result


async def test_compose_up_ps_logs_exec_down(ns_daemon: NetnsDaemon, tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(PROJECT)
    up = await _compose_ok(ns_daemon, tmp_path, "up", "-d")
    assert 'Creating network "demo_default" with the default driver' in up.stderr
    network = json.loads(await ns_daemon.docker_ok("network", "inspect", "demo_default"))[0]
    assert network["Labels"]["com.docker.compose.network"] == "default"

    # The published port answers in the daemon's namespace.
    assert await fetch_until_served(ns_daemon, "http://127.0.0.1:18090/") == "hello from web\n"
    # The client found web by its service name: its log says so.
    async with asyncio.timeout(DEADLINE):
        while True:
            logs = (await _compose_ok(ns_daemon, tmp_path, "logs", "client")).stdout
            if "hello from web" in logs:
                break
            await asyncio.sleep(0.1)  # polling the log until the client fetched, bounded

    ps = (await _compose_ok(ns_daemon, tmp_path, "ps")).stdout.splitlines()
    rows = {line.split()[0]: line for line in ps[2:]}
    assert sorted(rows) == ["demo_client_1", "demo_web_1"]
    assert all(" Up " in row for row in rows.values()), ps
    assert "0.0.0.0:18090->80/tcp" in rows["demo_web_1"]

    logs = (await _compose_ok(ns_daemon, tmp_path, "logs", "web")).stdout
    assert "response:200" in logs
    fetched = await _compose_ok(
        ns_daemon, tmp_path, "exec", "-T", "client", "sh", "-c", "wget -qO- http://web/"
    )
    assert fetched.stdout == "hello from web\n"
    port = await _compose_ok(ns_daemon, tmp_path, "port", "web", "80")
    assert port.stdout == "0.0.0.0:18090\n"

    # Restarted, web is found again by name; a one-off `run` container finds it too.
    await _compose_ok(ns_daemon, tmp_path, "restart", "-t", "1", "web")
    assert await fetch_until_served(ns_daemon, "http://127.0.0.1:18090/") == "hello from web\n"
    one_off = await _compose_ok(
        ns_daemon, tmp_path, "run", "--rm", "-T", "client", "sh", "-c", "wget -qO- http://web/"
    )
    assert one_off.stdout == "hello from web\n"

    down = await _compose_ok(ns_daemon, tmp_path, "down", "-t", "1")
    assert "Removing network demo_default" in down.stderr
    assert await ns_daemon.docker_ok("ps", "-aq", "--filter", "name=demo_") == ""
    listed = await ns_daemon.docker_ok("network", "ls", "--format", "{{.Name}}")
    assert "demo_default" not in listed.split()
