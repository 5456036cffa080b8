"""Reading small files with os calls reads what open() reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.smallfile import read_bytes, read_text


def test_text_is_what_open_reads_newlines_and_all(tmp_path: Path) -> None:
    path = tmp_path / "resolv.conf"
    path.write_bytes(b"nameserver 10.0.0.1\r\nsearch a\rnameserver \xc3\xa9\n")
    with open(path) as f:
        expected = f.read()
    assert read_text(str(path)) == expected == "nameserver 10.0.0.1\nsearch a\nnameserver é\n"
    assert read_bytes(str(path)) == path.read_bytes()


def test_a_file_larger_than_one_read_and_an_empty_one(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(bytes(range(256)) * 1024)  # 256 kB: four reads' worth
    assert read_bytes(str(big)) == big.read_bytes()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert read_bytes(str(empty)) == b""


def test_a_proc_file_is_read_to_its_end() -> None:
    with open("/proc/self/mountinfo", "rb") as f:  # short reads: one seq_file page each
        lines = len(f.read().splitlines())
    # Its own mounts do not change between the two reads.
    assert len(read_bytes("/proc/self/mountinfo").splitlines()) == lines


def test_missing_file_raises_as_open_does(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_text(str(tmp_path / "gone"))
    with pytest.raises(IsADirectoryError):
        read_bytes(str(tmp_path))
