"""The local content store: resumable ingests checked by size and digest, labels."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from libcontainerd.errors import ConflictError, NotFoundError
from libcontainerd.local.content import LocalContentStore

DATA = b"0123456789" * 1000
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def _source(
    data: bytes, fail_after: int | None = None
) -> tuple[Callable[[int], AsyncIterator[bytes]], list[int]]:
    """An opener of `data` (broken at `fail_after`), and the offsets it was opened at."""
    offsets: list[int] = []

    async def opener(offset: int) -> AsyncIterator[bytes]:
        offsets.append(offset)
        position = offset
        while position < len(data):
            if fail_after is not None and position >= fail_after:
                raise ConnectionError("source broke")
            yield data[position : position + 1000]
            position += 1000

    return opener, offsets


async def test_write_read_and_a_second_write_finds_it(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    opener, _ = _source(DATA)
    assert await store.write("ref", DIGEST, len(DATA), opener, labels={"a": "1"}) is True
    assert await store.write("other", DIGEST, len(DATA), opener) is False
    assert await store.read_blob(DIGEST, len(DATA)) == DATA
    assert b"".join([c async for c in store.read(DIGEST, 10, 5)]) == DATA[10:15]
    assert (await store.info(DIGEST)).labels == {"a": "1"}
    with pytest.raises(ValueError):
        await store.read_blob(DIGEST, 10)


async def test_a_broken_write_resumes_where_it_stopped(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    broken, _ = _source(DATA, fail_after=4000)
    with pytest.raises(ConnectionError):
        await store.write("ref", DIGEST, len(DATA), broken)
    opener, offsets = _source(DATA)
    progress: list[int] = []
    assert await store.write("ref", DIGEST, len(DATA), opener, progress=progress.append)
    assert offsets == [4000] and progress[0] == 4000 and progress[-1] == len(DATA)
    assert await store.read_blob(DIGEST, len(DATA)) == DATA


async def test_wrong_bytes_are_refused_and_not_kept(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    opener, _ = _source(b"x" * len(DATA))
    with pytest.raises(ConflictError):
        await store.write("ref", DIGEST, len(DATA), opener)
    with pytest.raises(NotFoundError):
        await store.info(DIGEST)
    opener, offsets = _source(DATA)
    assert await store.write("ref", DIGEST, len(DATA), opener)
    assert offsets == [0]  # the bad ingest was dropped, not resumed


async def test_labels_are_set_and_removed_one_by_one(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    opener, _ = _source(DATA)
    await store.write("ref", DIGEST, len(DATA), opener, labels={"a": "1", "b": "2"})
    info = await store.update_labels(DIGEST, {"a": "", "c": "3"})
    assert info.labels == {"b": "2", "c": "3"}
