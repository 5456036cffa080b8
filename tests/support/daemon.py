"""A real mooraged (in-process) on the test containerd, and the docker CLI pointed at it."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from api.limits import ServerLimits
from daemon.config import DaemonConfig
from mooraged.main import Services
from tests.support.commands import run_command
from tests.support.containerd import ImportedImage, TestContainerd


@dataclass
class RunningDaemon:
    services: Services
    socket: Path

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    async def request(
        self, method: str, path: str, body: Any = None, **params: str
    ) -> tuple[int, Any]:
        """One Engine API call over the socket: (status, decoded JSON body or None)."""
        connector = aiohttp.UnixConnector(path=str(self.socket))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.request(
                method, f"http://moorage/v1.41{path}", json=body, params=params or None
            ) as response,
        ):
            raw = await response.read()
            try:
                decoded = json.loads(raw) if raw else None
            except ValueError:
                decoded = raw.decode()
            return response.status, decoded

    async def call(
        self,
        method: str,
        path: str,
        *,
        version: str = "1.41",
        body: Any = None,
        params: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """One Engine API call at `version` (its path prefix): status, headers and body."""
        return await api_call(
            self.socket, method, path, version=version, body=body, params=params, headers=headers
        )

    async def docker(
        self, *args: str, stdin: bytes | None = None, timeout: float = 60.0
    ) -> tuple[int, str, str]:
        """Run the real docker CLI against this daemon: (exit code, stdout, stderr)."""
        env = docker_env(self.host, config=self.socket.parent / "docker-config")
        result = await run_command(["docker", *args], env=env, stdin=stdin, timeout=timeout)
        return result.returncode, result.stdout, result.stderr

    async def docker_ok(self, *args: str, stdin: bytes | None = None) -> str:
        """`docker` that must succeed; its stdout."""
        code, out, err = await self.docker(*args, stdin=stdin)
        assert code == 0, f"docker {' '.join(args)}: {err}"
        return out

    async def wait_for_path(
        self, container: str, path: str, test: str = "-e", timeout: float = 20.0
    ) -> None:
        """Poll with `docker exec ... test` until `path` passes `test` in the container
        (a file its command makes: nothing tells when it did), within `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            code, _, err = await self.docker("exec", container, "sh", "-c", f"test {test} {path}")
            if code == 0:
                return
            assert asyncio.get_running_loop().time() < deadline, f"{path} never appeared: {err}"
            await asyncio.sleep(0.1)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str:
        """An error reply's message."""
        return str(self.json().get("message", ""))


async def api_call(
    socket: Path,
    method: str,
    path: str,
    *,
    version: str = "1.41",
    body: Any = None,
    params: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One Engine API call over a daemon's unix socket at `version`; a bytes body is sent
    as it is, anything else as JSON."""
    connector = aiohttp.UnixConnector(path=str(socket))
    data = body if isinstance(body, bytes) else None
    as_json = None if isinstance(body, bytes) else body
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.request(
            method,
            f"http://moorage/v{version}{path}",
            json=as_json,
            data=data,
            params=params,
            headers=headers,
        ) as response,
    ):
        return Reply(response.status, dict(response.headers), await response.read())


def docker_env(
    host: str, *, config: Path | None = None, api_version: str | None = None
) -> dict[str, str]:
    """The environment for the docker CLI: none of the caller's DOCKER_* settings, `host` as
    DOCKER_HOST and, if given, `config` as its configuration directory and `api_version`
    as the version it speaks instead of negotiating."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = host
    if config is not None:
        env["DOCKER_CONFIG"] = str(config)
    if api_version is not None:
        env["DOCKER_API_VERSION"] = api_version
    return env


# The libcontainerd backend of daemons started without naming one: tests that run a
# module against the local backend set it (tests/integration/local/).
default_backend = "remote"


@asynccontextmanager
async def running_daemon(
    containerd: TestContainerd,
    image: ImportedImage,
    metrics_addr: str = "",
    data_root: Path | None = None,
    namespace: str | None = None,
    no_new_privileges: bool = False,
    backend: str | None = None,
    limits: ServerLimits | None = None,
) -> AsyncIterator[RunningDaemon]:
    """`data_root` of an earlier daemon makes this one its restart; a `namespace` of its
    own gives it an empty image store. On the `local` backend (runc, no containerd) the
    image is loaded through the daemon (`docker load`), and a restart keeps the exec root,
    where the local backend's bundles are. `limits`: the API server's, api.limits' defaults
    unless given."""
    backend = backend or default_backend
    workdir = Path(tempfile.mkdtemp(prefix="daemon-", dir=containerd.workdir))
    socket = workdir / "moorage.sock"
    exec_root = workdir / "exec"
    if backend == "local" and data_root is not None:
        exec_root = data_root.parent / "exec"
    config = DaemonConfig(
        hosts=[f"unix://{socket}"],
        containerd=containerd.address if backend == "remote" else "",
        containerd_backend=backend,
        containerd_namespace=namespace or containerd.namespace,
        data_root=data_root or workdir / "data",
        exec_root=exec_root,
        metrics_addr=metrics_addr,
        # In-process daemons run in the machine's own network namespace: no bridge there.
        bridge="none",
        no_new_privileges=no_new_privileges,
        # Tests restart daemons over running containers (restore): the shutdown leaves them.
        live_restore=True,
    )
    services = Services(config, limits)
    await services.start()
    try:
        running = RunningDaemon(services, socket)
        if backend == "local" and data_root is None and namespace is None:
            await running.docker_ok("load", "-i", str(image.archive))
        yield running
    finally:
        await services.stop()
