"""api.request_parser: the C parser with what follows an ``Upgrade: tcp`` request kept.

Each stream is cut into reads at every position (and pairs of positions), fed to
``UpgradeKeepingParser`` and to aiohttp's pure-Python parser, which keeps those bytes:
both must give the same requests, the same moment of the upgrade and the same tail.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import http_parser, web_protocol

from api.request_parser import UpgradeKeepingParser, use_tcp_upgrade_parser

GET = b"GET /v1.41/containers/abc/json HTTP/1.1\r\nHost: docker\r\n\r\n"
ATTACH = (
    b"POST /v1.41/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: docker\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
)
EXEC_BODY = b'{"Detach":false,"Tty":false}'
EXEC_START = (
    b"POST /v1.41/exec/e1/start HTTP/1.1\r\nHost: docker\r\nupgrade:tcp\r\n"
    b"Content-Type: application/json\r\nConnection: Upgrade\r\n"
    b"Content-Length: " + str(len(EXEC_BODY)).encode() + b"\r\n\r\n" + EXEC_BODY
)
CHUNKED_UPGRADE = (
    b"POST /v1.41/exec/e1/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
    b"Upgrade: tcp\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"
)
# A body that looks like a head naming Upgrade: bytes of a body, never a request.
LOOKALIKE_BODY = b"x\r\nUpgrade: tcp\r\n\r\nGET / HTTP/1.1\r\n\r\n"
POST_LOOKALIKE = (
    b"POST /v1.41/images/load HTTP/1.1\r\nHost: docker\r\nContent-Length: "
    + str(len(LOOKALIKE_BODY)).encode()
    + b"\r\n\r\n"
    + LOOKALIKE_BODY
)
# Stdin that looks like HTTP: after an upgrade it is stdin all the same.
STDIN = b"GET / HTTP/1.1\r\nUpgrade: tcp\r\n\r\nstdin!"

STREAMS = {
    "attach": ATTACH + STDIN,
    "get then attach": GET + ATTACH + STDIN,
    "exec start with a body": EXEC_START + STDIN,
    "get then exec start": GET + EXEC_START + STDIN,
    "chunked upgrade": CHUNKED_UPGRADE + STDIN,
    "body that looks like an upgrade": POST_LOOKALIKE + GET,
    "no upgrade": GET + GET,
}


class _Protocol:
    """What the parsers' body readers call on the connection."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def _cuts(length: int) -> Iterator[tuple[int, ...]]:
    yield ()
    yield from ((i,) for i in range(1, length))
    # Pairs: every first cut with a few second ones, to bound the count.
    for i in range(1, length, 3):
        for j in range(i + 1, length, 7):
            yield (i, j)


def _parse(parser_class: Any, stream: bytes, cuts: tuple[int, ...]) -> list[Any]:
    """What the server sees: requests (with their bodies), then whether and with which
    tail it was upgraded; bytes after the upgrade are appended to the tail, as aiohttp's
    RequestHandler does."""
    loop = asyncio.new_event_loop()
    try:
        parser = parser_class(_Protocol(), loop, 2**16, max_line_size=8190)
        seen: list[Any] = []
        payloads: list[Any] = []
        tail = b""
        upgraded = False
        bounds = (0, *cuts, len(stream))
        for start, end in itertools.pairwise(bounds):
            data = stream[start:end]
            if upgraded:
                tail += data
                continue
            messages, upgraded, tail = parser.feed_data(data)
            for message, payload in messages:
                seen.append((message.method, message.path))
                payloads.append(payload)
        bodies = [b"".join(p._buffer) if hasattr(p, "_buffer") else b"" for p in payloads]
        return [seen, bodies, upgraded, tail]
    finally:
        loop.close()


@pytest.mark.parametrize("name", list(STREAMS))
def test_same_requests_and_tail_as_the_python_parser(name: str) -> None:
    stream = STREAMS[name]
    for cuts in _cuts(len(stream)):
        want = _parse(http_parser.HttpRequestParserPy, stream, cuts)
        got = _parse(UpgradeKeepingParser, stream, cuts)
        assert got == want, f"reads cut at {cuts}"


def test_an_upgrade_keeps_its_tail() -> None:
    seen, _, upgraded, tail = _parse(UpgradeKeepingParser, GET + EXEC_START + STDIN, ())
    assert [path for _, path in seen] == ["/v1.41/containers/abc/json", "/v1.41/exec/e1/start"]
    assert upgraded and tail == STDIN


def test_the_server_uses_it() -> None:
    previous = getattr(web_protocol, "HttpRequestParser")  # noqa: B009
    try:
        use_tcp_upgrade_parser()
        assert getattr(web_protocol, "HttpRequestParser") is UpgradeKeepingParser  # noqa: B009
    finally:
        setattr(web_protocol, "HttpRequestParser", previous)  # noqa: B010
