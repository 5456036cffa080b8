"""The server's HTTP request parser: aiohttp's C parser, with the bytes after an upgrade kept.

aiohttp 3.14's C parser (llhttp) honours only ``Upgrade: websocket``. After an
``Upgrade: tcp`` request (attach, exec start) it drops whatever came in the same read
behind the request: stdin the client sent at once. Its pure-Python parser keeps those
bytes, but costs about eight times as much for every request (a GET of
``/v1.41/containers/{id}/json``: ~45 us against ~6 us here), and every request paid it
while the whole server used it.

``UpgradeKeepingParser`` feeds the C parser, but never a byte beyond the end of a request
that asks for an upgrade the C parser declines: a read holding an ``Upgrade`` header
outside a request body is cut after that request's head; once the head is parsed, its
Content-Length body (if any) is fed, and everything after it goes back as the upgraded
tail, as the Python parser returns it. Reads without such a header (all but the upgrade
requests) pass straight through at the C parser's speed.

Known limit: an upgrade request pipelined behind another request's body in the same read
is not cut (its header is taken for body bytes), so its tail is dropped as before. No
client pipelines a hijack; docker's CLI and SDKs wait for each reply.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

from aiohttp import http_parser, web_protocol

# A header line naming Upgrade (its name is case-insensitive; no space before the colon).
_UPGRADE_HEADER = re.compile(rb"\n[Uu][Pp][Gg][Rr][Aa][Dd][Ee][ \t]*:")
# Bytes of the previous read searched again with the next one: a name split across reads.
_EDGE = len(b"\nupgrade :") - 1
_HEAD_END = b"\r\n\r\n"
# An unfinished head naming Upgrade is held back at most this long; past it the bytes go
# to the C parser as they are (a real upgrade head is well under a kilobyte).
_MAX_HELD = 64 * 1024

_Result = tuple[list[Any], bool, bytes]


@functools.cache
def _c_parser_class() -> Any:
    # Once: every connection makes a parser.
    try:
        module = importlib.import_module("aiohttp._http_parser")
    except ImportError:  # aiohttp built without its extensions
        return None
    return module.HttpRequestParser


def _declined_upgrade(message: Any) -> bool:
    """Whether the C parser saw `message` ask for an upgrade and did not switch: it then
    drops what follows the request."""
    if not message.upgrade or message.method == "CONNECT":
        return False
    return str(message.headers.get("Upgrade", "")).lower() != "websocket"


def _payload_done(payload: Any) -> bool:
    if payload is None:
        return True
    # A compressed body's reader (DeflateBuffer) keeps the stream it feeds in `out`.
    return bool(getattr(payload, "out", payload).is_eof())


class UpgradeKeepingParser:
    """aiohttp's request parser interface over its C parser (see the module's doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = _c_parser_class()
        assert cls is not None
        self._parser = cls(*args, **kwargs)
        self._payload: Any = None  # the body reader of the last request parsed
        self._edge = b""  # the previous read's last bytes
        self._held = b""  # a head naming Upgrade, not yet complete, unseen by the parser
        # Body bytes still due of a declined upgrade request (-1: chunked), else None.
        self._body_left: int | None = None

    # What aiohttp's RequestHandler calls.

    def feed_data(self, data: bytes) -> _Result:
        if self._body_left is not None:
            return self._feed_upgrade_body(data)
        if self._held:
            # Held from where the header's name starts: the search is done.
            data, self._held, at = self._held + data, b"", 0
        else:
            at = self._upgrade_header(data)
        self._edge = (self._edge + data)[-_EDGE:] if len(data) < _EDGE else data[-_EDGE:]
        if at < 0 or not _payload_done(self._payload):
            return self._feed(data)
        # Everything before the header is safe to parse: no upgrade head ends in it.
        messages, upgraded, tail = self._feed(data[:at])
        rest = data[at:]
        if upgraded:
            return messages, True, tail + rest
        end = rest.find(_HEAD_END)
        if end < 0:
            if len(rest) > _MAX_HELD:
                more, upgraded, tail = self._feed(rest)
                return messages + more, upgraded, tail
            self._held = rest
            return messages, False, b""
        head_messages, upgraded, tail = self._feed(rest[: end + len(_HEAD_END)])
        messages += head_messages
        rest = rest[end + len(_HEAD_END) :]
        if upgraded:
            return messages, True, tail + rest
        if not head_messages or not _declined_upgrade(head_messages[-1][0]):
            if not rest:
                return messages, False, b""
            self._edge = b""  # `rest` follows a head: no name straddles into it
            more, upgraded, tail = self.feed_data(rest)
            return messages + more, upgraded, tail
        request = head_messages[-1][0]
        if request.chunked:
            self._body_left = -1
        else:
            self._body_left = int(request.headers.get("Content-Length", "0") or "0")
        more, upgraded, tail = self._feed_upgrade_body(rest)
        return messages + more, upgraded, tail

    def feed_eof(self) -> Any:
        return self._parser.feed_eof()

    def set_upgraded(self, value: bool) -> None:
        self._parser.set_upgraded(value)

    def pause_reading(self) -> None:
        self._parser.pause_reading()

    def message_consumed(self) -> None:
        self._parser.message_consumed()

    # Inside.

    def _feed(self, data: bytes) -> _Result:
        messages, upgraded, tail = self._parser.feed_data(data)
        if messages:
            self._payload = messages[-1][1]
        return list(messages), upgraded, tail

    def _upgrade_header(self, data: bytes) -> int:
        """Where in `data` a header line naming Upgrade starts (0 if it began in the
        previous read), or -1."""
        edge = self._edge
        if edge:
            # A name that straddles the two reads (first: it comes before any in `data`;
            # one wholly in the previous read was dealt with there).
            found = _UPGRADE_HEADER.search(edge + data[:_EDGE])
            if found is not None and found.end() > len(edge):
                return 0
        found = _UPGRADE_HEADER.search(data)
        return -1 if found is None else found.start()

    def _feed_upgrade_body(self, data: bytes) -> _Result:
        """Feed the declined upgrade request's body, and not a byte more; then say
        "upgraded" with the rest as its tail."""
        left = self._body_left
        assert left is not None
        messages: list[Any] = []
        if left < 0:
            # A chunked body's end is known only to the parser: one byte at a time (no
            # client sends one with an upgrade; this only keeps such a request correct).
            for index in range(len(data)):
                messages += self._feed(data[index : index + 1])[0]
                if _payload_done(self._payload):
                    self._body_left = None
                    return messages, True, data[index + 1 :]
            return messages, False, b""
        body, rest = data[:left], data[left:]
        if body:
            messages += self._feed(body)[0]
        self._body_left = left - len(body)
        if self._body_left:
            return messages, False, b""
        self._body_left = None
        return messages, True, rest


def _keeps_bytes_after_tcp_upgrade(parser_class: Any) -> bool:
    probe = parser_class(None, None, 2**16)
    request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    _, upgraded, tail = probe.feed_data(request + b"stdin")
    return bool(upgraded) and tail == b"stdin"


def use_tcp_upgrade_parser() -> None:
    """Make aiohttp's server parse requests with a parser that keeps what follows an
    ``Upgrade: tcp`` request: the C parser itself once aiohttp's does, else
    ``UpgradeKeepingParser`` over it, else (no C parser, or the probe fails) aiohttp's
    pure-Python one. For the whole process: aiohttp has no per-server choice."""
    current = getattr(web_protocol, "HttpRequestParser")  # noqa: B009
    if current in (UpgradeKeepingParser, http_parser.HttpRequestParserPy):
        return
    if _keeps_bytes_after_tcp_upgrade(current):
        return
    chosen: Any = http_parser.HttpRequestParserPy
    if _c_parser_class() is not None and _keeps_bytes_after_tcp_upgrade(UpgradeKeepingParser):
        chosen = UpgradeKeepingParser
    setattr(web_protocol, "HttpRequestParser", chosen)  # noqa: B010
