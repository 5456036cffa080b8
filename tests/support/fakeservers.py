"""Small loopback servers for what a real registry will not do on request.

- `TokenProxy`: Bearer token auth in front of a real registry, the way Docker
  Hub works (the Debian registry only offers htpasswd or JWT with a CA).
- `StallingServer`: accepts connections and then goes silent, either at once or
  after sending response headers and part of a body.
- `CuttingProxy`: a real registry behind it, but the first download of each large blob
  after `arm()` breaks off half-way (a connection lost mid-layer).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import socket
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

SERVICE = "moorage-test-registry"


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """`app` served on a free loopback port: its runner and the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    return runner, port


async def _close(session: aiohttp.ClientSession | None, runner: web.AppRunner | None) -> None:
    """A proxy's end: its session to the upstream, then its server."""
    if session is not None:
        await session.close()
    if runner is not None:
        await runner.cleanup()


async def _relay(
    session: aiohttp.ClientSession, upstream: str, request: web.Request, drop: tuple[str, ...]
) -> tuple[int, bytes, dict[str, str]]:
    """`request` sent on to `upstream` without the headers named in `drop` (lower case):
    the reply's status, body and the headers a new response may carry on."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in drop}
    async with session.request(
        request.method,
        upstream + request.path_qs,
        headers=headers,
        data=await request.read(),
        allow_redirects=False,
    ) as reply:
        body = await reply.read()
        kept = {
            k: v
            for k, v in reply.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "date", "server")
        }
        return reply.status, body, kept


@dataclass
class TokenProxy:
    upstream: str  # http://127.0.0.1:<port> of the real registry
    username: str = "bob"
    password: str = "hunter2"
    allow_anonymous_pull: bool = True
    token_requests: list[dict[str, object]] = field(default_factory=list)
    _tokens: dict[str, set[str]] = field(default_factory=dict)  # token -> granted scopes
    _refresh_tokens: set[str] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/token", self._token)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner, self.port = await _serve(app)
        self._session = aiohttp.ClientSession(auto_decompress=False)

    async def close(self) -> None:
        await _close(self._session, self._runner)

    def _check_basic(self, header: str) -> bool | None:
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.username and password == self.password

    async def _token(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            form = await request.post()
            scopes = str(form.get("scope", "")).split()
            record: dict[str, object] = {
                "method": "POST",
                "grant_type": form.get("grant_type"),
                "scopes": scopes,
            }
            self.token_requests.append(record)
            if form.get("refresh_token") not in self._refresh_tokens:
                return _unauthorized_json("incorrect username or password")
            authenticated = True
        else:
            scopes = request.query.getall("scope", [])
            self.token_requests.append(
                {"method": "GET", "scopes": scopes, "service": request.query.get("service")}
            )
            verdict = self._check_basic(request.headers.get("Authorization", ""))
            if verdict is False:
                return _unauthorized_json("incorrect username or password")
            authenticated = bool(verdict)
        granted: set[str] = set()
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            for action in actions.split(","):
                if authenticated or (action == "pull" and self.allow_anonymous_pull):
                    granted.add(f"{kind}:{name}:{action}")
        token = secrets.token_hex(16)
        self._tokens[token] = granted
        body: dict[str, object] = {"token": token, "expires_in": 300}
        if authenticated and request.query.get("offline_token") == "true":
            refresh = secrets.token_hex(16)
            self._refresh_tokens.add(refresh)
            body["refresh_token"] = refresh
        return web.json_response(body)

    def _needed(self, request: web.Request) -> str | None:
        parts = request.path.split("/")
        if request.path in ("/v2/", "/v2"):
            return None
        for marker in ("manifests", "blobs", "tags"):
            if marker in parts:
                name = "/".join(parts[2 : parts.index(marker)])
                action = "pull" if request.method in ("GET", "HEAD") else "push"
                return f"repository:{name}:{action}"
        return None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        granted = self._tokens.get(token)
        needed = self._needed(request)
        if granted is None or (needed is not None and needed not in granted):
            scope = needed.rsplit(":", 1)[0] + ":pull,push" if needed else ""
            challenge = f'Bearer realm="http://{self.host}/token",service="{SERVICE}"'
            if scope:
                challenge += f',scope="{scope}"'
            return web.json_response(
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                status=401,
                headers={"WWW-Authenticate": challenge},
            )
        assert self._session is not None
        status, body, headers = await _relay(
            self._session, self.upstream, request, ("host", "authorization")
        )
        # Locations (upload URLs) name the proxy, not the registry behind it.
        headers = {k: v.replace(self.upstream, f"http://{self.host}") for k, v in headers.items()}
        return web.Response(status=status, body=body, headers=headers)


def _unauthorized_json(message: str) -> web.Response:
    return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message": message}]}, status=401)


class StallingServer:
    """Accepts and then never finishes: `stall_after_headers` sends a partial blob first."""

    def __init__(self, *, stall_after_headers: bool = False) -> None:
        self._partial = stall_after_headers
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: list[asyncio.Task[object]] = []
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.append(task)
        if not self._partial:
            await asyncio.sleep(3600)
            return
        while True:
            request = b""
            while not request.endswith(b"\r\n\r\n"):
                data = await reader.read(1)
                if not data:
                    return
                request += data
            if request.startswith(b"GET /v2/ "):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
                continue
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
            await writer.drain()
            await asyncio.sleep(3600)
            return

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@dataclass
class CuttingProxy:
    upstream: str  # http://127.0.0.1:<port> of the real registry
    large: int = 64 * 1024  # blobs above this size (layers, not configs) are cut
    cuts: int = 0
    _cut: set[str] = field(default_factory=set)  # paths cut since the last arm()
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def arm(self) -> None:
        """The next download of each large blob breaks off again."""
        self._cut.clear()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner, self.port = await _serve(app)
        self._session = aiohttp.ClientSession(auto_decompress=False)

    async def close(self) -> None:
        await _close(self._session, self._runner)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        status, body, out_headers = await _relay(self._session, self.upstream, request, ("host",))
        cut = (
            request.method == "GET"
            and "/blobs/" in request.path
            and len(body) > self.large
            and request.path not in self._cut
        )
        if not cut:
            return web.Response(status=status, body=body, headers=out_headers)
        self._cut.add(request.path)
        self.cuts += 1
        response = web.StreamResponse(status=status, headers=out_headers)
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        assert request.transport is not None
        request.transport.abort()  # the connection is lost half-way through the blob
        return response
