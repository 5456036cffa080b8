"""The volume service's own rules, on a temporary data root (no containers needed):
prune's two API-version semantics, in-use refusals, force, and what a restart keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon import errors
from daemon.filters import Filters
from daemon.volumes import VolumeService


def _service(root: Path, events: list[tuple[str, str]] | None = None) -> VolumeService:
    seen = events if events is not None else []
    service = VolumeService(root, lambda action, name, _attributes: seen.append((action, name)))
    service.load()
    return service


async def test_prune_of_api_1_42_takes_anonymous_volumes_unless_all(tmp_path: Path) -> None:
    service = _service(tmp_path)
    service.create("named")
    anonymous = service.create(anonymous=True).name
    used = service.create(anonymous=True).name
    service.add_ref(used, "c" * 64)
    report = await service.prune(Filters(), anonymous_only=True)
    assert report["VolumesDeleted"] == [anonymous]
    assert service.exists("named") and service.exists(used)
    report = await service.prune(Filters(), anonymous_only=False)  # all=true, or API < 1.42
    assert report["VolumesDeleted"] == ["named"]
    assert await service.prune(Filters(), anonymous_only=False) == {
        "VolumesDeleted": [],
        "SpaceReclaimed": 0,
    }


async def test_in_use_is_refused_even_with_force_and_force_ignores_missing(
    tmp_path: Path,
) -> None:
    events: list[tuple[str, str]] = []
    service = _service(tmp_path, events)
    service.create("data")
    (tmp_path / "data" / "_data" / "kept").write_text("x")
    service.add_ref("data", "b" * 64)
    service.add_ref("data", "a" * 64)
    for force in (False, True):
        with pytest.raises(errors.Conflict) as refused:
            service.remove("data", force=force)
        assert str(refused.value) == f"remove data: volume is in use - [{'a' * 64}, {'b' * 64}]"
    assert (tmp_path / "data" / "_data" / "kept").read_text() == "x"
    with pytest.raises(errors.NotFound, match=r"^get nosuch: no such volume$"):
        service.remove("nosuch")
    service.remove("nosuch", force=True)
    service.drop_refs("a" * 64)
    service.drop_refs("b" * 64)
    service.remove("data")
    assert not (tmp_path / "data").exists()
    assert events == [("create", "data"), ("destroy", "data")]


def test_records_survive_a_restart_and_leftovers_are_swept(tmp_path: Path) -> None:
    first = _service(tmp_path)
    first.create("kept", options={"type": "tmpfs", "device": "tmpfs"}, labels={"a": "b"})
    anonymous = first.create(anonymous=True).name
    (tmp_path / "half-made" / "_data").mkdir(parents=True)  # a crash before its record
    second = _service(tmp_path)
    kept = second.get("kept")
    assert (kept.options, kept.labels, kept.anonymous) == (
        {"type": "tmpfs", "device": "tmpfs"},
        {"a": "b"},
        False,
    )
    assert second.get(anonymous).anonymous
    assert not (tmp_path / "half-made").exists()
    with pytest.raises(errors.NotFound):
        second.get("half-made")
