"""stdcopy frames."""

import pytest

from api.stdcopy import (
    HEADER_SIZE,
    FrameDecoder,
    Stream,
    decode_frames,
    demultiplex,
    encode_frame,
)


def test_encode_matches_the_wire_example() -> None:
    # CLI-CALLS.md: 01 00 00 00 00 00 00 03 "hi\n"
    assert encode_frame(Stream.STDOUT, b"hi\n") == bytes.fromhex("0100000000000003") + b"hi\n"
    assert encode_frame(2, b"") == bytes.fromhex("0200000000000000")


def test_round_trip() -> None:
    frames = [(Stream.STDOUT, b"out"), (Stream.STDERR, b"err" * 1000), (Stream.STDOUT, b"")]
    data = b"".join(encode_frame(s, p) for s, p in frames)
    assert decode_frames(data) == frames
    assert demultiplex(data) == (b"out", b"err" * 1000)


def test_incremental_decoding_byte_by_byte() -> None:
    data = encode_frame(Stream.STDOUT, b"hello") + encode_frame(Stream.STDERR, b"world")
    decoder = FrameDecoder()
    got = []
    for i in range(len(data)):
        got += decoder.feed(data[i : i + 1])
    assert got == [(Stream.STDOUT, b"hello"), (Stream.STDERR, b"world")]
    assert decoder.pending == 0
    decoder.close()


def test_truncated_input_is_reported() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(Stream.STDOUT, b"hello")[:-2]) == []
    assert decoder.pending == HEADER_SIZE + 3
    with pytest.raises(ValueError, match="inside a frame"):
        decoder.close()


def test_unknown_stream_id() -> None:
    with pytest.raises(ValueError, match="Unrecognized input header: 7"):
        decode_frames(bytes([7, 0, 0, 0, 0, 0, 0, 0]))
