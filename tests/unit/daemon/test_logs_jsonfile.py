"""The json-file writer: line format, splitting and rotation."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from daemon.logs.config import LogOptionError
from daemon.logs.entry import decode_entry, encode_entry, go_json_string
from daemon.logs.jsonfile import MAX_ENTRY_BYTES, JsonFileWriter
from daemon.timefmt import parse_rfc3339_nano, rfc3339_nano

LINE = re.compile(
    rb'\{"log":"(?:[^"\\]|\\.)*","stream":"std(?:out|err)",'
    rb'"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z"\}\n'
)


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def logs(path: Path) -> list[tuple[str, bytes]]:
    return [(e.stream, e.data) for e in map(decode_entry, read_lines(path))]


def test_time_format() -> None:
    ns = 1_700_000_000_123_456_789
    assert rfc3339_nano(ns) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339_nano(1_700_000_000_100_000_000) == "2023-11-14T22:13:20.1Z"
    assert rfc3339_nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert rfc3339_nano(1_700_000_000_100_000_000, fixed=True) == ("2023-11-14T22:13:20.100000000Z")
    assert parse_rfc3339_nano("2023-11-14T22:13:20.123456789Z") == ns
    assert parse_rfc3339_nano("2023-11-14T22:13:20.1Z") == 1_700_000_000_100_000_000
    assert parse_rfc3339_nano("2023-11-15T00:13:20.5+02:00") == 1_700_000_000_500_000_000


def test_entry_is_byte_exact() -> None:
    line = encode_entry("stdout", b"hello world\n", 1_700_000_000_123_456_789)
    assert line == (
        b'{"log":"hello world\\n","stream":"stdout","time":"2023-11-14T22:13:20.123456789Z"}\n'
    )


def test_escaping_follows_go() -> None:
    assert go_json_string(b'a"b\\c\td\re\n') == '"a\\"b\\\\c\\td\\re\\n"'
    assert go_json_string(b"<a&b>") == '"\\u003ca\\u0026b\\u003e"'
    assert go_json_string(b"\x01\x08\x0c\x1f") == '"\\u0001\\u0008\\u000c\\u001f"'
    assert go_json_string("é\u2028".encode()) == '"é\\u2028"'
    # Each byte that is not UTF-8 becomes one replacement character.
    assert go_json_string(b"a\xff\xfeb") == '"a\\ufffd\\ufffdb"'
    assert json.loads(go_json_string(b"x\xc3")) == "x\ufffd"


def test_lines_are_split_at_newlines(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = JsonFileWriter(str(path))
    writer.write("stdout", b"one\ntw")
    writer.write("stderr", b"err")
    writer.write("stdout", b"o\nthree\n")
    assert logs(path) == [("stdout", b"one\n"), ("stdout", b"two\n"), ("stdout", b"three\n")]
    for line in read_lines(path):
        assert LINE.fullmatch(line), line
    writer.close()
    # The stderr fragment had no newline: written as it is on close.
    assert logs(path)[-1] == ("stderr", b"err")


def test_end_of_stream_flushes_that_stream(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = JsonFileWriter(str(path))
    writer.write("stdout", b"partial")
    writer.write("stderr", b"other")
    writer.write("stdout", b"")
    assert logs(path) == [("stdout", b"partial")]
    writer.flush()
    assert logs(path) == [("stdout", b"partial"), ("stderr", b"other")]
    writer.close()
    writer.write("stdout", b"after close\n")
    assert len(logs(path)) == 2


def test_long_lines_are_cut_at_16k(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = JsonFileWriter(str(path))
    writer.write("stdout", b"x" * 40_000 + b"\n")
    writer.write("stdout", b"y" * (MAX_ENTRY_BYTES - 1) + b"\n")
    writer.close()
    sizes = [len(data) for _, data in logs(path)]
    assert sizes == [MAX_ENTRY_BYTES, MAX_ENTRY_BYTES, 40_000 - 2 * MAX_ENTRY_BYTES + 1, 16384]
    assert not logs(path)[0][1].endswith(b"\n")


def test_rotation_keeps_max_file_files(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = JsonFileWriter(str(path), max_size=500, max_file=3)
    for i in range(100):
        writer.write("stdout", b"line %03d\n" % i)
    writer.close()
    assert sorted(os.listdir(tmp_path)) == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    entry_size = len(read_lines(path)[0])
    for name in ("c-json.log.1", "c-json.log.2"):
        size = (tmp_path / name).stat().st_size
        # Rotation happens once a file has reached max-size, before the next entry.
        assert 500 <= size < 500 + entry_size
    texts = [
        data
        for name in ("c-json.log.2", "c-json.log.1", "c-json.log")
        for _, data in logs(tmp_path / name)
    ]
    expected_first = 100 - len(texts)
    assert texts == [b"line %03d\n" % i for i in range(expected_first, 100)]
    assert writer.generation > 2


def test_single_file_rotation_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = JsonFileWriter(str(path), max_size=300, max_file=1)
    for i in range(20):
        writer.write("stdout", b"line %03d\n" % i)
    writer.close()
    assert os.listdir(tmp_path) == ["c-json.log"]
    assert logs(path)[-1] == ("stdout", b"line 019\n")
    assert path.stat().st_size < 300 + 100


def test_writer_appends_to_existing_log(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    first = JsonFileWriter(str(path))
    first.write("stdout", b"run 1\n")
    first.close()
    second = JsonFileWriter(str(path))
    second.write("stdout", b"run 2\n")
    second.close()
    assert [data for _, data in logs(path)] == [b"run 1\n", b"run 2\n"]
    assert oct(path.stat().st_mode & 0o777) in ("0o640", oct(0o640 & ~_umask()))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_from_options(tmp_path: Path) -> None:
    writer = JsonFileWriter.from_options(
        str(tmp_path / "a.log"), {"max-size": "1k", "max-file": "2"}
    )
    assert (writer.max_size, writer.max_file) == (1000, 2)
    writer.close()
    with pytest.raises(LogOptionError, match="invalid size: 'big'"):
        JsonFileWriter.from_options(str(tmp_path / "b.log"), {"max-size": "big"})


async def test_changed_event_is_set_by_writes(tmp_path: Path) -> None:
    writer = JsonFileWriter(str(tmp_path / "a.log"))
    event = writer.changed()
    assert not event.is_set()
    writer.write("stdout", b"no newline yet")
    assert not event.is_set()
    writer.write("stdout", b"\n")
    assert event.is_set()
    assert not writer.changed().is_set()
    closing = writer.changed()
    writer.close()
    assert closing.is_set() and writer.closed
