"""The aiohttp application and its listeners.

``make_app`` assembles what every route shares: the request's way through the
server (``api.dispatch``: routing, the version prefix and its limits, error mapping,
metrics, the reply and its common headers) and ``/_ping``. Endpoints backed by
the daemon are added to ``app.router`` afterwards, without the version prefix.

Decisions worth knowing:

* Handlers are not cancelled when their client disconnects (aiohttp's
  ``handler_cancellation=False``). A create or start cut short by a client
  pressing ^C would leave half-done state behind. Long waits (wait, logs -f,
  events, stats) notice the disconnect through ``api.streams.StreamingReply``
  and hijacked streams through ``api.hijack``; both stop at once.
* No general request size limit (``client_max_size=0``), like dockerd: image tars
  come as request bodies. Handlers of such bodies read ``request.content`` in
  chunks; small bodies are read with ``api.body.read_body``, within
  ``api.limits``'s JSON size limit and body timeout. The request head's sizes and
  the time a connection may go without a complete head are ``api.limits`` too.
* On ``close()``, streams and hijacked connections are cut first (their clients
  may wait forever), then other requests get ``shutdown_timeout`` to finish.
* Whoever reaches the API is root on the machine. The unix socket is 0660,
  root and the socket group, and appears atomically: it is bound under a
  temporary name, given its mode and group, and renamed over the final path,
  so no one ever sees it with other permissions. A socket left by a dead
  daemon is replaced; one a live daemon answers on is refused. TCP gets TLS
  from ``server_tls_context`` (with ``--tlsverify``, a client certificate
  signed by the CA is required); plain TCP on a non-loopback address is refused
  by the configuration (``insecure_tcp_hosts``).
"""

import asyncio
import contextlib
import errno
import grp
import ipaddress
import logging
import os
import secrets
import socket
import ssl
import stat
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from api.dispatch import RequestObserver, install
from api.limits import LIMITS, ApiRunner, ServerLimits
from api.request_parser import use_tcp_upgrade_parser
from api.routes import system
from api.streams import LIVE_STREAMS, abort_live_streams
from api.tls import TlsRelay
from api.versioning import MIN_API_VERSION, ApiVersion, add_version_prefix

log = logging.getLogger(__name__)

DEFAULT_UNIX_SOCKET = "/run/moorage/moorage.sock"
DEFAULT_TCP_PORT = 2375
SOCKET_GROUP = "docker"  # as daemon.config's default


def make_app(
    *,
    min_api_version: ApiVersion = MIN_API_VERSION,
    observe: RequestObserver | None = None,
    limits: ServerLimits | None = None,
) -> web.Application:
    """The application with its middleware, hooks and the system routes.

    `observe` is told each request's final status and time (``api.dispatch``).
    `limits` (defaults: ``ServerLimits()``) apply to its handlers and, through
    ``serve``, to its connections.
    """
    use_tcp_upgrade_parser()
    app = web.Application(client_max_size=0)
    app[LIVE_STREAMS] = weakref.WeakSet()
    app[LIMITS] = limits or ServerLimits()
    system.add_routes(app.router)
    install(app, add_version_prefix(app.router), min_api_version, observe)
    return app


@dataclass(frozen=True)
class UnixSocketOwner:
    """Who may use the unix socket: root and `group`. A `group` that does not exist is an
    error when the user named it (`required`), else a warning and root's group, as dockerd."""

    group: str = SOCKET_GROUP
    required: bool = False


@dataclass
class ApiServer:
    """Running listeners; ``close()`` stops them."""

    app: web.Application
    runner: web.AppRunner
    # Paths of our sockets and their inodes: only a file that is still ours is removed.
    unix_sockets: dict[str, int] = field(default_factory=dict)
    # The name each socket was bound to (what getsockname says) -> its path after the rename.
    bound_names: dict[str, str] = field(default_factory=dict)
    # TLS listeners (api.tls relays in front of the app's server).
    tls_servers: list[asyncio.Server] = field(default_factory=list)

    @property
    def addresses(self) -> list[str]:
        """Where it listens: unix paths and ``host:port`` pairs (real ports, not 0)."""
        out: list[str] = []
        for addr in self.runner.addresses:
            if isinstance(addr, tuple):
                out.append(f"{addr[0]}:{addr[1]}")
            else:
                out.append(self.bound_names.get(str(addr), str(addr)))
        for tls_server in self.tls_servers:
            for sock in tls_server.sockets:
                host, port = sock.getsockname()[:2]
                out.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        return out

    async def close(self) -> None:
        for tls_server in self.tls_servers:
            tls_server.close()  # no new connections; open ones end with the app's
        abort_live_streams(self.app)
        await self.runner.cleanup()
        for path, inode in self.unix_sockets.items():
            with contextlib.suppress(FileNotFoundError):
                if os.lstat(path).st_ino == inode:
                    os.unlink(path)


async def serve(
    app: web.Application,
    hosts: list[str],
    *,
    shutdown_timeout: float = 10.0,
    socket_owner: UnixSocketOwner | None = None,
    tls: ssl.SSLContext | None = None,
    activated: Sequence[socket.socket] = (),
) -> ApiServer:
    """Listen on every ``unix:///path`` and ``tcp://host:port`` of ``hosts``; TCP with `tls`.

    ``fd://`` serves the listening sockets the service manager handed over (`activated`,
    systemd's socket activation), ``fd://N`` the one of them at descriptor N."""
    runner = ApiRunner(
        app,
        handle_signals=False,
        handler_cancellation=False,
        shutdown_timeout=shutdown_timeout,
        **app.get(LIMITS, ServerLimits()).handler_options(),
    )
    await runner.setup()
    server = ApiServer(app, runner)
    try:
        for host in hosts:
            scheme, target = _parse_host(host)
            if scheme == "fd":
                for sock in _activated_sockets(host, target, activated):
                    if sock.family != socket.AF_UNIX and tls is not None:
                        server.tls_servers.append(await _serve_tls(runner, sock, tls))
                    else:
                        await web.SockSite(runner, sock).start()
            elif scheme == "unix":
                sock = _bind_unix(target, socket_owner or UnixSocketOwner())
                server.unix_sockets[target] = os.lstat(target).st_ino
                server.bound_names[str(sock.getsockname())] = target
                await web.SockSite(runner, sock).start()
            else:
                hostname, _, port = target.rpartition(":")
                if tls is None:
                    await web.TCPSite(runner, hostname.strip("[]") or None, int(port)).start()
                else:
                    server.tls_servers.append(
                        await _listen_tls(runner, hostname.strip("[]") or None, int(port), tls)
                    )
    except BaseException:
        await server.close()
        raise
    return server


async def _listen_tls(
    runner: web.AppRunner,
    host: str | None,
    port: int,
    tls: ssl.SSLContext,
    sock: socket.socket | None = None,
) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    app_server = runner.server
    assert app_server is not None

    async def serve_plain(accepted: socket.socket) -> None:
        await loop.connect_accepted_socket(app_server, accepted)

    handshake_timeout = runner.app.get(LIMITS, ServerLimits()).head_timeout

    def relay() -> TlsRelay:
        return TlsRelay(tls, serve_plain, handshake_timeout)

    if sock is not None:
        return await loop.create_server(relay, sock=sock)
    return await loop.create_server(relay, host, port)


async def _serve_tls(
    runner: web.AppRunner, sock: socket.socket, tls: ssl.SSLContext
) -> asyncio.Server:
    return await _listen_tls(runner, None, 0, tls, sock)


NO_ACTIVATED_SOCKETS = (
    "no sockets found via socket activation: make sure the service was started by systemd"
)


def _activated_sockets(
    host: str, target: str, activated: Sequence[socket.socket]
) -> list[socket.socket]:
    """The sockets an ``fd://`` host names among those handed over."""
    if not activated:
        raise ValueError(NO_ACTIVATED_SOCKETS)
    if not target:
        return list(activated)
    try:
        wanted = int(target)
    except ValueError:
        raise ValueError(f"invalid fd address: {host}") from None
    for sock in activated:
        if sock.fileno() == wanted:
            return [sock]
    raise ValueError(f"too few sockets for {host}: descriptor {wanted} was not handed over")


def server_tls_context(
    cert: str, key: str, ca: str = "", *, verify: bool = False
) -> ssl.SSLContext:
    """The TLS side of a TCP listener: dockerd's --tlscert/--tlskey, and with --tlsverify a
    client certificate signed by --tlscacert is required. OSError/SSLError on bad files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if verify:
        context.load_verify_locations(cafile=ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def is_loopback_host(hostname: str) -> bool:
    """Only these addresses are unreachable from other machines; "" (all interfaces) is not."""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False  # a name may resolve to anything


def insecure_tcp_hosts(hosts: Sequence[str]) -> list[str]:
    """The ``tcp://`` hosts of `hosts` that other machines could reach (for plain TCP)."""
    out = []
    for host in hosts:
        scheme, target = _parse_host(host)
        if scheme == "tcp" and not is_loopback_host(target.rpartition(":")[0]):
            out.append(host)
    return out


def unix_socket_paths(hosts: Sequence[str]) -> list[str]:
    """The paths of the ``unix://`` hosts of `hosts`."""
    return [target for scheme, target in map(_parse_host, hosts) if scheme == "unix"]


def _parse_host(host: str) -> tuple[str, str]:
    """``unix:///p`` -> ("unix", "/p"); ``tcp://h:p`` -> ("tcp", "h:p"); ``fd://N`` ->
    ("fd", "N")."""
    parts = urlsplit(host)
    if parts.scheme == "fd":
        return "fd", parts.netloc + parts.path
    if parts.scheme == "unix":
        return "unix", (parts.netloc + parts.path) or DEFAULT_UNIX_SOCKET
    if parts.scheme == "tcp":
        if not parts.hostname and not parts.netloc:
            raise ValueError(f"invalid tcp address: {host}")
        port = parts.port if parts.port is not None else DEFAULT_TCP_PORT
        hostname = parts.hostname or ""
        if ":" in hostname:
            hostname = f"[{hostname}]"
        return "tcp", f"{hostname}:{port}"
    raise ValueError(f"unsupported host address: {host} (use unix://, tcp:// or fd://)")


def _socket_gid(owner: UnixSocketOwner, path: str) -> int:
    try:
        return grp.getgrnam(owner.group).gr_gid
    except KeyError:
        if owner.required:
            raise ValueError(f"group {owner.group} not found for the socket {path}") from None
        log.warning("group %s not found: %s is left to root's group", owner.group, path)
        return 0


def _refuse_live_socket(path: str) -> None:
    """A file in the way: a live daemon's socket is refused, anything but a socket too."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2.0)  # a daemon too busy to accept is alive all the same
    try:
        probe.connect(path)
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return  # left behind by a daemon that did not stop cleanly: replaced below
        if isinstance(exc, TimeoutError):
            raise FileExistsError(f"{path} is in use: another daemon listens on it") from None
        raise
    finally:
        probe.close()
    raise FileExistsError(f"{path} is in use: another daemon answers on it")


def _bind_unix(path: str, owner: UnixSocketOwner) -> socket.socket:
    """A listening socket at `path`, already 0660 and root:group when the path appears."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    gid = _socket_gid(owner, path)
    _refuse_live_socket(path)
    # Short, in the same directory (rename stays atomic): a path near the kernel's
    # limit for socket names must not fail only because of its temporary name.
    temporary = os.path.join(os.path.dirname(path), f".{secrets.token_hex(3)}.s")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # Bound with no permission for anyone but the owner until chmod; the name is
        # private until the rename anyway.
        old_umask = os.umask(0o177)
        try:
            sock.bind(temporary)
        finally:
            os.umask(old_umask)
        try:
            try:
                os.chown(temporary, -1, gid)
            except PermissionError:
                log.warning("cannot give %s to group %s", path, owner.group)
            os.chmod(temporary, 0o660)
            sock.listen(128)
            os.rename(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
