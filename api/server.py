"""The aiohttp application and its listeners.

``make_app`` assembles what every route shares: error mapping, the version
prefix and its limits, the common headers and ``/_ping``. Endpoints backed by
the daemon are added to ``app.router`` afterwards, without the version prefix.

Decisions worth knowing:

* Handlers are not cancelled when their client disconnects (aiohttp's
  ``handler_cancellation=False``). A create or start cut short by a client
  pressing ^C would leave half-done state behind. Long waits (wait, logs -f,
  events, stats) notice the disconnect through ``api.streams.StreamingReply``
  and hijacked streams through ``api.hijack``; both stop at once.
* No request size limit (``client_max_size=0``), like dockerd: image tars come
  as request bodies. Handlers of such bodies read ``request.content`` in chunks
  instead of ``request.read()``.
* On ``close()``, streams and hijacked connections are cut first (their clients
  may wait forever), then other requests get ``shutdown_timeout`` to finish.
"""

import contextlib
import grp
import logging
import os
import stat
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from api.errors import error_middleware
from api.hijack import use_tcp_upgrade_parser
from api.routes import system
from api.streams import LIVE_STREAMS, abort_live_streams, drop_unwanted_content_type
from api.versioning import (
    MIN_API_VERSION,
    ApiVersion,
    add_common_headers,
    add_version_prefix,
    version_middleware,
)

log = logging.getLogger(__name__)

DEFAULT_UNIX_SOCKET = "/run/moorage/moorage.sock"
DEFAULT_TCP_PORT = 2375
SOCKET_GROUP = "docker"


def make_app(
    *,
    min_api_version: ApiVersion = MIN_API_VERSION,
    outer_middlewares: Sequence[Middleware] = (),
) -> web.Application:
    """The application with middlewares, hooks and the system routes.

    `outer_middlewares` run outside error handling, so they see every final status.
    """
    use_tcp_upgrade_parser()
    app = web.Application(
        middlewares=[*outer_middlewares, error_middleware, version_middleware(min_api_version)],
        client_max_size=0,
    )
    app[LIVE_STREAMS] = weakref.WeakSet()
    app.on_response_prepare.append(add_common_headers)
    app.on_response_prepare.append(drop_unwanted_content_type)
    system.add_routes(app.router)
    add_version_prefix(app.router)
    return app


@dataclass
class ApiServer:
    """Running listeners; ``close()`` stops them."""

    app: web.Application
    runner: web.AppRunner
    unix_sockets: list[str] = field(default_factory=list)

    @property
    def addresses(self) -> list[str]:
        """Where it listens: unix paths and ``host:port`` pairs (real ports, not 0)."""
        out: list[str] = []
        for addr in self.runner.addresses:
            if isinstance(addr, tuple):
                out.append(f"{addr[0]}:{addr[1]}")
            else:
                out.append(str(addr))
        return out

    async def close(self) -> None:
        abort_live_streams(self.app)
        await self.runner.cleanup()
        for path in self.unix_sockets:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


async def serve(
    app: web.Application,
    hosts: list[str],
    *,
    shutdown_timeout: float = 10.0,
    socket_group: str = SOCKET_GROUP,
) -> ApiServer:
    """Listen on every ``unix:///path`` and ``tcp://host:port`` of ``hosts``."""
    runner = web.AppRunner(
        app,
        handle_signals=False,
        handler_cancellation=False,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()
    server = ApiServer(app, runner)
    try:
        for host in hosts:
            scheme, target = _parse_host(host)
            if scheme == "unix":
                await _listen_unix(runner, target, socket_group)
                server.unix_sockets.append(target)
            else:
                hostname, _, port = target.rpartition(":")
                site = web.TCPSite(runner, hostname.strip("[]") or None, int(port))
                await site.start()
    except BaseException:
        await server.close()
        raise
    return server


def _parse_host(host: str) -> tuple[str, str]:
    """``unix:///p`` -> ("unix", "/p"); ``tcp://h:p`` -> ("tcp", "h:p")."""
    parts = urlsplit(host)
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
    raise ValueError(f"unsupported host address: {host} (use unix:// or tcp://)")


async def _listen_unix(runner: web.AppRunner, path: str, group: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise FileExistsError(f"{path} exists and is not a socket")
        # Left behind by a daemon that did not stop cleanly.
        os.unlink(path)
    # The socket is created with the umask's mode; narrow it for the moment of
    # the bind so that it is never, even briefly, open to everyone.
    old_umask = os.umask(0o117)
    try:
        await web.UnixSite(runner, path).start()
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o660)
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return
    try:
        os.chown(path, -1, gid)
    except PermissionError:
        log.warning("cannot give %s to group %s", path, group)
