"""systemd's side of the service: listening sockets handed over (socket activation, the
LISTEN_FDS protocol) and readiness told to the service manager (sd_notify).

Both are plain protocols on environment variables and sockets; no libsystemd is needed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket

log = logging.getLogger(__name__)

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START: the first descriptor handed over


def listen_sockets(environ: dict[str, str] | None = None) -> list[socket.socket]:
    """The listening sockets systemd passed to this process (none without activation).

    As sd_listen_fds(): the variables count only when LISTEN_PID is this process, and are
    then removed so that children do not take the sockets as theirs."""
    env = os.environ if environ is None else environ
    count, pid = env.get("LISTEN_FDS", ""), env.get("LISTEN_PID", "")
    for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        env.pop(name, None)
    if not count or pid != str(os.getpid()):
        return []
    try:
        number = int(count)
    except ValueError:
        log.warning("LISTEN_FDS=%r is not a number: no sockets taken", count)
        return []
    sockets = []
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + number):
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            log.warning("descriptor %d handed over is not a socket: %s", fd, exc)
            continue
        sock.set_inheritable(False)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send `state` (e.g. "READY=1") to the service manager's NOTIFY_SOCKET, if any."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    with contextlib.closing(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)) as sock:
        try:
            sock.connect(address)
            sock.sendall(state.encode())
        except OSError as exc:
            log.warning("could not notify the service manager (%s): %s", state, exc)
            return False
    return True
