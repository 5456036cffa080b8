"""Putting a reply on the wire: the headers every reply carries, and a plain reply's status
line, headers and body in one write.

Every reply gets ``COMMON_HEADERS`` (dockerd's Api-Version, Docker-Experimental, Ostype and
Server); a reply marked ``OMIT_CONTENT_TYPE`` loses its Content-Type.

Three ways out:

* ``write_plain`` writes a whole ``web.Response`` with a bytes body (nearly every reply:
  JSON documents, 204s, errors, the ping) itself: the headers aiohttp would compute
  (Content-Length, a default Content-Type, Date, Server, Connection), in aiohttp's order
  and by its rules, then the common ones, serialized by aiohttp's own header serializer
  (which refuses CR and LF in names and values), and one ``transport.write`` of head and
  body. The usual reply, whose only header of its own is its Content-Type (or none),
  has the same head formatted as text instead (``_usual_head``: no header dictionary to
  fill and serialize). aiohttp gets back a response that writes nothing
  (``WrittenReply``; ``api.connection`` skips its finish). aiohttp's way to the same bytes
  is a chain of some ten coroutines per reply (prepare, its header preparation, the
  ``on_response_prepare`` signal, the writer's buffering, write_eof), about a fifth of a
  small request's CPU (issue 13).
* A streamed reply (``api.streams.StreamingReply``) writes the head ``stream_head`` makes
  (as text too when the handler adds no headers) and its body in ``chunk``s, as aiohttp's
  StreamResponse would (a hijack writes its own 101 head: ``api.hijack``).
* Any other reply (a response that sets a header aiohttp computes, HTTP/1.0, CONNECT...
  see ``write_plain``) goes through aiohttp's prepare, whose ``on_response_prepare``
  hook is ``add_common_headers``.

tests/unit/api/test_reply.py holds each way and aiohttp's to the same bytes, case by
case.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import hdrs, web
from aiohttp.helpers import must_be_empty_body, rfc822_formatted_time, should_remove_content_length
from aiohttp.http import HttpVersion11

# aiohttp's header serializer (its C one when built with it; the Python one makes the same
# checks): the very function its own writer calls.
from aiohttp.http_writer import _serialize_headers as _serialize
from multidict import CIMultiDict

from api.versioning import COMMON_HEADERS

# A response marked so is sent without Content-Type (dockerd's logs replies).
OMIT_CONTENT_TYPE = web.ResponseKey("moorage_omit_content_type", bool)

# Headers aiohttp computes for a reply: one a handler set itself takes aiohttp's way.
_COMPUTED = (hdrs.CONTENT_LENGTH, hdrs.TRANSFER_ENCODING, hdrs.DATE, hdrs.CONNECTION)
_SERVER = COMMON_HEADERS["Server"]


async def add_common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: the replies aiohttp prepares (see the module's doc)."""
    headers = response.headers
    # Overwrites, in place, the Server header aiohttp set just before this hook runs.
    headers.update(COMMON_HEADERS)
    if response.get(OMIT_CONTENT_TYPE):
        headers.popall("Content-Type", None)


class WrittenReply(web.StreamResponse):
    """What aiohttp gets for a reply already written: nothing to prepare or end; whether
    the connection stays open is all it reads of it."""

    def __init__(self, keep_alive: bool) -> None:
        super().__init__()
        self._kept_alive = keep_alive

    @property
    def keep_alive(self) -> bool:
        return self._kept_alive

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


# Shared by every written reply: aiohttp only reads them (its access log, which would
# read the status, takes aiohttp's way: see write_plain).
_KEPT_ALIVE = WrittenReply(True)
_CLOSED = WrittenReply(False)


def _logs_access(request: web.BaseRequest) -> bool:
    logger: Any = request.protocol.access_logger
    return logger is not None and bool(logger.enabled)


def write_plain(request: web.BaseRequest, response: web.StreamResponse) -> web.StreamResponse:
    """Write `response` now if it is a plain reply, and return what aiohttp is to finish
    instead; else return `response` for aiohttp to prepare and write."""
    if (
        type(response) is not web.Response
        or response.prepared
        or response.chunked
        or response.compression
        or response._cookies
        or request.version != HttpVersion11
        or request.method == hdrs.METH_CONNECT
        or _logs_access(request)
    ):
        return response
    body = response.body
    if body is not None and not isinstance(body, bytes):
        return response  # a payload object: aiohttp streams it
    transport = request.transport
    if transport is None or transport.is_closing():
        return response  # aiohttp's write notices the loss and ends the connection

    # aiohttp's rules, in its order (Response._start, StreamResponse._prepare_headers).
    method, status = request.method, response.status
    length = len(body) if body else 0
    keep_alive = response.keep_alive
    if keep_alive is None:
        keep_alive = request.keep_alive
    empty = must_be_empty_body(method, status)
    usual = _usual_head(method, response, length, empty, keep_alive)
    if usual is not None:
        transport.write(usual + body if body and not empty else usual)
        return _KEPT_ALIVE if keep_alive else _CLOSED
    headers = response.headers
    for name in _COMPUTED:
        if name in headers:
            return response
    if (length or (status != 304 and method != hdrs.METH_HEAD)) and not (
        should_remove_content_length(method, status)
    ):
        headers[hdrs.CONTENT_LENGTH] = str(length)
    if length and not empty:
        headers.setdefault(hdrs.CONTENT_TYPE, "application/octet-stream")
    headers[hdrs.DATE] = rfc822_formatted_time()
    headers.setdefault(hdrs.SERVER, _SERVER)
    if not keep_alive:
        headers[hdrs.CONNECTION] = "close"
    headers.update(COMMON_HEADERS)
    if response.get(OMIT_CONTENT_TYPE):
        headers.popall(hdrs.CONTENT_TYPE, None)

    head: bytes = _serialize(f"HTTP/1.1 {status} {response.reason}", headers)
    transport.write(head + body if body and not empty else head)
    return _KEPT_ALIVE if keep_alive else _CLOSED


# What ends the head of every usual reply (see _usual_head): aiohttp's Server (then its
# Connection: close when the connection ends) and the other common headers, in the order
# COMMON_HEADERS' update leaves them.
_OTHER_COMMON = "".join(f"{k}: {v}\r\n" for k, v in COMMON_HEADERS.items() if k != "Server")
_END_KEPT_ALIVE = f"Server: {_SERVER}\r\n{_OTHER_COMMON}\r\n"
_END_CLOSED = f"Server: {_SERVER}\r\nConnection: close\r\n{_OTHER_COMMON}\r\n"


def _usual_head(
    method: str, response: web.Response, length: int, empty: bool, keep_alive: bool
) -> bytes | None:
    """The head of a reply whose only header (if any) is its Content-Type, which nearly
    all are (JSON documents, errors, 204s): the bytes of write_plain's way below, put
    together as text. None for any other reply (it takes that way)."""
    headers = response.headers
    content_type: str | None = None
    if headers:
        if len(headers) != 1:
            return None
        content_type = headers.get(hdrs.CONTENT_TYPE)
        # CR or LF in it: aiohttp's serializer refuses it, and write_plain's way says so.
        if content_type is None or "\r" in content_type or "\n" in content_type:
            return None
    status = response.status
    omit = bool(response.get(OMIT_CONTENT_TYPE))
    head = f"HTTP/1.1 {status} {response.reason}\r\n"
    if content_type is not None and not omit:
        head += f"Content-Type: {content_type}\r\n"
    if (length or (status != 304 and method != hdrs.METH_HEAD)) and not (
        should_remove_content_length(method, status)
    ):
        head += f"Content-Length: {length}\r\n"
    if content_type is None and length and not empty and not omit:
        head += "Content-Type: application/octet-stream\r\n"
    head += f"Date: {rfc822_formatted_time()}\r\n"
    head += _END_KEPT_ALIVE if keep_alive else _END_CLOSED
    return head.encode()


def stream_head(status: int, content_type: str | None, extra: Mapping[str, str]) -> bytes:
    """The head of a streamed reply to an HTTP/1.1 request (``api.streams``: chunked, the
    connection closed at its end), as aiohttp prepares it: Content-Type (none if None),
    the handler's `extra` headers, Transfer-Encoding, Date, Server, Connection, then the
    common headers."""
    reason = _reason(status)
    if not extra and (content_type is None or not ("\r" in content_type or "\n" in content_type)):
        # The usual stream (wait, logs, events, stats): the same bytes, as text.
        text = f"HTTP/1.1 {status} {reason}\r\n"
        if content_type is not None:
            text += f"Content-Type: {content_type}\r\n"
        text += f"Transfer-Encoding: chunked\r\nDate: {rfc822_formatted_time()}\r\n"
        return (text + _END_CLOSED).encode()
    headers: CIMultiDict[str] = CIMultiDict()
    if content_type is not None:
        headers[hdrs.CONTENT_TYPE] = content_type
    headers.extend(extra)
    headers[hdrs.TRANSFER_ENCODING] = "chunked"
    headers[hdrs.DATE] = rfc822_formatted_time()
    headers.setdefault(hdrs.SERVER, _SERVER)
    headers[hdrs.CONNECTION] = "close"
    headers.update(COMMON_HEADERS)
    head: bytes = _serialize(f"HTTP/1.1 {status} {reason}", headers)
    return head


@functools.cache
def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


# The end of a chunked body.
LAST_CHUNK = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """`data` as one chunk of a chunked body (not empty: an empty chunk ends the body)."""
    return b"%x\r\n%s\r\n" % (len(data), data)
