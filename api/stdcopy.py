"""Multiplexed stdout/stderr frames (Docker's "stdcopy" format).

Each frame is an 8-byte header -- stream id, three zero bytes, big-endian
uint32 payload length -- followed by the payload. Used for attach, exec and
logs of containers without a TTY.
"""

import struct
from enum import IntEnum

HEADER_SIZE = 8
MAX_PAYLOAD = 0xFFFFFFFF
_HEADER = struct.Struct(">BxxxI")


class Stream(IntEnum):
    STDIN = 0
    STDOUT = 1
    STDERR = 2
    # Newer engines report daemon-side failures inside a stream with this id.
    SYSTEMERR = 3


def encode_frame(stream: Stream | int, payload: bytes) -> bytes:
    """One frame carrying ``payload`` on ``stream``."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too large for one frame")
    return _HEADER.pack(int(stream), len(payload)) + payload


class FrameDecoder:
    """Incremental decoder: feed bytes as they come, get whole frames back."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[Stream, bytes]]:
        """Add ``data``; return every frame completed by it, in order."""
        self._buffer += data
        frames: list[tuple[Stream, bytes]] = []
        while len(self._buffer) >= HEADER_SIZE:
            stream_id, length = _HEADER.unpack_from(self._buffer)
            try:
                stream = Stream(stream_id)
            except ValueError:
                raise ValueError(f"Unrecognized input header: {stream_id}") from None
            end = HEADER_SIZE + length
            if len(self._buffer) < end:
                break
            frames.append((stream, bytes(self._buffer[HEADER_SIZE:end])))
            del self._buffer[:end]
        return frames

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buffer)

    def close(self) -> None:
        """Declare the input ended; raise if it stopped inside a frame."""
        if self._buffer:
            raise ValueError(f"stream ended inside a frame ({len(self._buffer)} bytes left)")


def decode_frames(data: bytes) -> list[tuple[Stream, bytes]]:
    """All frames of a complete byte string."""
    decoder = FrameDecoder()
    frames = decoder.feed(data)
    decoder.close()
    return frames


def demultiplex(data: bytes) -> tuple[bytes, bytes]:
    """(stdout, stderr) of a complete byte string, each stream's payloads joined."""
    out = bytearray()
    err = bytearray()
    for stream, payload in decode_frames(data):
        if stream is Stream.STDOUT:
            out += payload
        elif stream is Stream.STDERR:
            err += payload
    return bytes(out), bytes(err)
