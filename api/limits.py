"""What one client may cost the API server: request head and JSON body sizes, and time.

Whoever reaches the socket may be careless or hostile; a client that sends a huge
JSON document, endless headers, or its request a byte a minute must not cost the
daemon memory or hold a connection open forever, and the others go on being served.

* The request head. aiohttp's parser refuses a request line or a header line
  longer than ``max_line_bytes`` and a head of more than ``max_headers`` lines (the
  request line and the blank line count) with a 400 and closes the connection, so a
  head never takes more than their product, Go's 1 MB default that dockerd runs with.
* Time until the head is complete. aiohttp's keep-alive timer starts when a
  connection is made and again after each reply, and closes the connection if no
  complete request head has arrived when it fires: an idle connection and one whose
  head trickles in are both dropped after ``head_timeout``. The timer does nothing
  while a request is being handled, so attach, ``logs -f``, events, stats and
  hijacked execs run as long as they like. A TLS client gets the same time to
  finish its handshake (``api.tls``).
* A body read whole (JSON, and the small bodies of commit, auth and the hijacks)
  is refused over ``json_body_bytes`` with a 400, before any of it is read when
  Content-Length says so, and the connection is dropped if it has not all arrived
  within ``body_timeout``. Streamed bodies (image load and import, archive
  upload) are read in chunks by their handlers and have neither limit: they are
  as large and as slow as their source.

dockerd 20.10 has none of these (Go's 1 MB head limit aside). The JSON limit is
far above any real document (a create with thousands of environment variables is a
few hundred KiB) and far below the 100 MB body the issue asks to refuse.
"""

from dataclasses import dataclass
from typing import Any

from aiohttp import web

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServerLimits:
    json_body_bytes: int = 10 * MiB
    body_timeout: float = 60.0
    head_timeout: float = 60.0
    max_line_bytes: int = 16 * 1024
    max_headers: int = 64

    def handler_options(self) -> dict[str, Any]:
        """aiohttp's RequestHandler arguments (through AppRunner) that apply these limits."""
        return {
            "keepalive_timeout": self.head_timeout,
            "max_line_size": self.max_line_bytes,
            "max_field_size": self.max_line_bytes,
            "max_headers": self.max_headers,
        }


LIMITS = web.AppKey("moorage_limits", ServerLimits)


def limits_of(request: web.Request) -> ServerLimits:
    return request.app.get(LIMITS) or ServerLimits()
