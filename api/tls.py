"""TLS for the TCP listeners, terminated by the daemon itself.

Why not asyncio's SSL transport: the docker CLI ends stdin of an attach or exec
with a half-close (over TLS, a close_notify) and then waits for the output.
asyncio's and uvloop's SSL layers shut the whole connection down at a
close_notify whatever ``eof_received`` answers, so `docker run` over TLS would
print nothing. Here each TLS connection is a `TlsRelay`: it decrypts with an
`ssl.SSLObject` over memory BIOs and hands the plaintext to the application
over a socketpair, which the app's server serves like any accepted socket. A
close_notify (what the docker CLI sends at the end of stdin), or a bare FIN,
becomes a half-close of the socketpair, which
``api.hijack`` keeps writable, as on the unix socket. When the app closes its
side, the relay sends close_notify and closes the TCP connection.

Ownership: the relay owns the TCP transport and its end of the socketpair
(a transport with `_AppSide` as protocol); the app's server owns the other
end. Either side's loss closes the other. Backpressure goes both ways through
pause/resume_reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import cast

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024


class _AppSide(asyncio.Protocol):
    """The relay's end of the socketpair: bytes the app writes go to the client."""

    def __init__(self, relay: TlsRelay) -> None:
        self.relay = relay

    def data_received(self, data: bytes) -> None:
        self.relay.to_client(data)

    def eof_received(self) -> bool:
        self.relay.app_finished()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.app_finished()

    def pause_writing(self) -> None:
        self.relay.pause_client_reading()

    def resume_writing(self) -> None:
        self.relay.resume_client_reading()


class TlsRelay(asyncio.Protocol):
    """One client's TLS connection, relayed as plaintext to `serve_plain`."""

    def __init__(
        self,
        context: ssl.SSLContext,
        serve_plain: Callable[[socket.socket], Awaitable[object]],
        handshake_timeout: float = 60.0,
    ) -> None:
        self._serve_plain = serve_plain
        self._handshake_timeout = handshake_timeout
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._tcp: asyncio.Transport | None = None
        self._app: asyncio.Transport | None = None
        self._app_task: asyncio.Task[None] | None = None
        self._pending = bytearray()  # plaintext that came before the app side was ready
        self._client_eof = False
        self._closed = False

    # The client's TCP connection.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass, but it is one.
        self._tcp = cast(asyncio.Transport, transport)
        # Until the handshake is done the app's server, whose timers drop idle and slow
        # clients, does not know this connection: a client that never finishes it would
        # hold its socket for good.
        self._handshake_timer = asyncio.get_running_loop().call_later(
            self._handshake_timeout, self._handshake_overdue
        )

    def _handshake_overdue(self) -> None:
        if self._app_task is None and not self._closed:
            log.info("dropping a TLS client that did not finish its handshake in time")
            self._abort()

    def data_received(self, data: bytes) -> None:
        self._incoming.write(data)
        self._pump()

    def eof_received(self) -> bool:
        # A FIN without close_notify: nothing more comes, but the client may still read.
        self._client_done()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
        if self._app is not None:
            self._app.close()
        elif self._app_task is not None:
            self._app_task.cancel()

    def pause_writing(self) -> None:
        if self._app is not None:
            self._app.pause_reading()

    def resume_writing(self) -> None:
        if self._app is not None and not self._app.is_closing():
            self._app.resume_reading()

    def _pump(self) -> None:
        """Advance the handshake, then move decrypted bytes to the app side."""
        if self._closed:
            return
        try:
            if self._app_task is None:
                self._tls.do_handshake()
                if self._handshake_timer is not None:
                    self._handshake_timer.cancel()
                self._start_app_side()
            while True:
                chunk = self._tls.read(_CHUNK)
                if not chunk:  # close_notify (no data at all raises SSLWantReadError)
                    self._client_done()
                    break
                self._to_app(chunk)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            self._client_done()
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS connection refused or broken: %s", exc)
            self._flush()
            self._abort()
            return
        self._flush()

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and self._tcp is not None and not self._tcp.is_closing():
            self._tcp.write(data)

    def _abort(self) -> None:
        self._closed = True
        if self._tcp is not None:
            self._tcp.close()  # after the alert just flushed
        if self._app is not None:
            self._app.abort()

    # The app's side.

    def _start_app_side(self) -> None:
        self._app_task = asyncio.ensure_future(self._connect_app())

    async def _connect_app(self) -> None:
        loop = asyncio.get_running_loop()
        mine, theirs = socket.socketpair()
        try:
            await self._serve_plain(theirs)  # from here on the app's server owns `theirs`
        except BaseException:
            mine.close()
            theirs.close()
            self._abort()
            raise
        try:
            transport, _ = await loop.connect_accepted_socket(lambda: _AppSide(self), mine)
        except BaseException:
            mine.close()
            self._abort()
            raise
        if self._closed:
            transport.close()
            return
        self._app = transport
        if self._pending:
            transport.write(bytes(self._pending))
            self._pending.clear()
        if self._client_eof:
            transport.write_eof()

    def _to_app(self, data: bytes) -> None:
        if self._app is None:
            self._pending += data
        else:
            self._app.write(data)

    def _client_done(self) -> None:
        if self._client_eof:
            return
        self._client_eof = True
        if self._app is not None and not self._app.is_closing():
            with contextlib.suppress(OSError):
                self._app.write_eof()

    def to_client(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            self._tls.write(data)
        except ssl.SSLError as exc:
            log.debug("TLS write failed: %s", exc)
            self._abort()
            return
        self._flush()

    def app_finished(self) -> None:
        """The app is done with the connection: close_notify, then close."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ssl.SSLError):
            self._tls.unwrap()
        self._flush()
        if self._tcp is not None:
            self._tcp.close()
        if self._app is not None:
            self._app.close()

    def pause_client_reading(self) -> None:
        if self._tcp is not None:
            self._tcp.pause_reading()

    def resume_client_reading(self) -> None:
        if self._tcp is not None and not self._tcp.is_closing():
            self._tcp.resume_reading()
