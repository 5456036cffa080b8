"""The container store's files: what load makes of the directories a removal leaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.container.model import Container, Status
from daemon.container.store import (
    STATE_FILE,
    ContainerStore,
    encode_state,
    erase,
)
from daemon.exchange import exchange


def _model(store: ContainerStore, cid: str, name: str) -> Container:
    """A container as create has it before its commit: its directory made."""
    model = Container(
        id=cid, name=name, created="2026-01-01T00:00:00Z", path="sh", args=[],
        config={}, host_config={}, image_id="sha256:" + "0" * 64, runtime="runc",
    )  # fmt: skip
    model.directory = store.directory_for(cid)
    model.dir.mkdir(parents=True)
    return model


def _container(store: ContainerStore, cid: str, name: str) -> Container:
    model = _model(store, cid, name)
    store.add(model)
    return model


def test_erase_removes_the_state_file_and_the_directory(tmp_path: Path) -> None:
    store = ContainerStore(tmp_path)
    model = _container(store, "a" * 64, "/gone")
    (model.dir / "hosts").write_text("127.0.0.1 localhost\n")
    store.forget(model)
    assert store.find("gone") is None
    erase(model.directory)
    assert not model.dir.exists()
    assert ContainerStore(tmp_path).load() == []


def test_erase_later_removes_them_in_the_stores_thread(tmp_path: Path) -> None:
    store = ContainerStore(tmp_path)
    models = [_container(store, c * 64, f"/later{c}") for c in "cde"]
    for model in models:
        (model.dir / "hosts").write_text("127.0.0.1 localhost\n")
        store.forget(model)
        store.erase_later(model.directory)
    store.close()  # waits for what its threads were given
    assert [m.dir.exists() for m in models] == [False, False, False]
    assert ContainerStore(tmp_path).load() == []


def test_a_directory_without_its_state_file_is_swept_at_load(tmp_path: Path) -> None:
    store = ContainerStore(tmp_path)
    model = _container(store, "b" * 64, "/half")
    (model.dir / STATE_FILE).unlink()  # a removal cut short between unlink and rmtree
    assert ContainerStore(tmp_path).load() == []
    assert not model.dir.exists()


@pytest.mark.parametrize("removed_id", ["1" * 64, "f" * 64])
def test_a_removal_not_yet_erased_leaves_its_name_to_the_new_container(
    tmp_path: Path, removed_id: str
) -> None:
    # `docker rm web` answered, then `docker create --name web`, then a crash before the
    # old files went: both records load, the old one only for restore to finish it.
    store = ContainerStore(tmp_path)
    old = _container(store, removed_id, "/web")
    old.state.status = Status.REMOVING
    store.save(old)
    store.forget(old)
    new = _container(store, "8" * 64, "/web")
    loaded = ContainerStore(tmp_path)
    assert {c.id for c in loaded.load()} == {old.id, new.id}
    assert loaded.get("web").id == new.id
    loaded.forget(loaded.get(old.id))  # restore finishes the removal
    assert loaded.get("web").id == new.id


def test_saves_swap_the_state_file_with_its_temp_file(tmp_path: Path) -> None:
    # A save after the first two reuses the two files' inodes (no new inode per save),
    # and the state file always holds the last save whole.
    store = ContainerStore(tmp_path)
    model = _container(store, "c" * 64, "/swapped")
    state_file, temp_file = model.dir / STATE_FILE, model.dir / f".{STATE_FILE}.tmp"
    store.save(model)
    inodes = {state_file.stat().st_ino, temp_file.stat().st_ino}
    for status in (Status.RUNNING, Status.EXITED, Status.REMOVING):
        model.state.status = status
        store.save(model)
        assert {state_file.stat().st_ino, temp_file.stat().st_ino} == inodes
        [loaded] = ContainerStore(tmp_path).load()
        assert loaded.state.status is status
    erase(model.directory)
    assert not model.dir.exists()


def test_exchange_needs_both_names(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text("a")
    assert not exchange(str(first), str(second))
    second.write_text("b")
    assert exchange(str(first), str(second))
    assert (first.read_text(), second.read_text()) == ("b", "a")


def test_a_create_cut_short_before_its_record_was_renamed_is_swept_at_load(
    tmp_path: Path,
) -> None:
    # A crash while create's record was being written: its bytes in the temp file only.
    store = ContainerStore(tmp_path)
    model = _model(store, "c" * 64, "/staged")
    (model.dir / f".{STATE_FILE}.tmp").write_bytes(encode_state(model))
    assert ContainerStore(tmp_path).load() == []
    assert not model.dir.exists()


async def test_a_persisted_create_is_in_the_store_only_from_its_commit(tmp_path: Path) -> None:
    store = ContainerStore(tmp_path)
    model = _model(store, "a" * 64, "/early")
    staged = encode_state(model)
    await store.persist_new(model, staged)
    assert store.find("early") is None  # containerd's RPCs still in flight
    # A crash now: the record loads (restore makes its containerd objects).
    assert [c.id for c in ContainerStore(tmp_path).load()] == [model.id]
    store.commit(model, staged)
    assert store.get("early") is model
    assert [p.name for p in model.dir.iterdir()] == [STATE_FILE]
    store.close()


async def test_a_commit_writes_the_model_as_it_is_then(tmp_path: Path) -> None:
    store = ContainerStore(tmp_path)
    model = _model(store, "d" * 64, "/late")
    staged = encode_state(model)
    await store.persist_new(model, staged)
    model.config = {"Hostname": "changed"}  # after staging: the commit must not lose it
    store.commit(model, staged)
    assert store.get("late") is model
    [loaded] = ContainerStore(tmp_path).load()
    assert loaded.config == {"Hostname": "changed"}
    store.close()


async def test_a_failed_create_takes_its_record_back(tmp_path: Path) -> None:
    store = ContainerStore(tmp_path)
    model = _model(store, "e" * 64, "/failed")
    await store.persist_new(model, encode_state(model))
    store.discard_new(model)
    assert not model.dir.exists()
    assert store.find("failed") is None
    assert ContainerStore(tmp_path).load() == []
    store.close()


def test_a_save_synced_later_is_in_place_at_once(tmp_path: Path) -> None:
    store = ContainerStore(tmp_path)
    model = _container(store, "e" * 64, "/going")
    model.state.status = Status.REMOVING
    with store.syncing_later() as deferred:
        store.save(model)
    # A daemon killed before the sync finds `removing` (restore finishes the removal).
    [loaded] = ContainerStore(tmp_path).load()
    assert loaded.state.status is Status.REMOVING
    erase(model.directory)  # the files may go before the sync: it holds its own fds
    deferred.run()
    deferred.run()  # nothing left to sync, nothing closed twice


def test_a_save_synced_later_keeps_the_record_it_replaced_whole(tmp_path: Path) -> None:
    # `docker rm`'s `removing` is swapped into place unsynced; a power loss before its
    # sync can leave the state file's new name on bytes that never reached the disk.
    store = ContainerStore(tmp_path)
    model = _container(store, "9" * 64, "/cut")
    model.config = {"Env": ["A_LONGER_RECORD=" + "x" * 200]}
    model.state.status = Status.EXITED
    store.save(model)  # synced: the state file, the temp file holds the created record
    model.config = {}
    model.state.status = Status.REMOVING
    with store.syncing_later() as deferred:
        store.save(model)  # shorter than what the temp file held: cut to its length
    deferred.run()
    [loaded] = ContainerStore(tmp_path).load()
    assert loaded.state.status is Status.REMOVING and loaded.config == {}
    state_file = model.dir / STATE_FILE
    state_file.write_bytes(state_file.read_bytes()[:100])  # what the disk kept of it
    [loaded] = ContainerStore(tmp_path).load()
    assert loaded.state.status is Status.EXITED  # the record before: restore recreates it
    assert loaded.config == {"Env": ["A_LONGER_RECORD=" + "x" * 200]}
    assert loaded.name == "/cut"


def test_a_state_file_that_does_not_decode_and_nothing_before_it_is_skipped(
    tmp_path: Path,
) -> None:
    store = ContainerStore(tmp_path)
    model = _container(store, "7" * 64, "/broken")
    (model.dir / STATE_FILE).write_bytes(b"{")
    assert ContainerStore(tmp_path).load() == []
    (model.dir / f".{STATE_FILE}.tmp").write_bytes(b"[]")
    assert ContainerStore(tmp_path).load() == []
    assert model.dir.exists()  # kept for a person to look at, as before
