"""Names, lists, inspect, tag, rmi and prune, with dockerd 20.10's rules and texts."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from daemon.errors import Conflict, InvalidParameter, NotFound
from daemon.images.errors import ImageConflict, NoSuchImage
from daemon.images.image import ImageUse
from daemon.images.service import ImageService
from libcontainerd.errors import NotFoundError
from tests.integration.images.conftest import Events, Usage, new_service, service_in
from tests.integration.images.support import content_of, load_file
from tests.support.containerd import TestContainerd, count_delta
from tests.support.images import (
    build_image,
    build_layer,
    busybox_entries,
    file_layer,
    write_docker_save,
)
from tests.support.lcd import connected
from wire.image import ImageSummary

_archives = itertools.count()


def image_with(tag: str, created: str, labels: dict[str, str] | None = None) -> object:
    layers = [build_layer(busybox_entries()), file_layer({f"{tag}.txt": tag.encode()})]
    return build_image(
        layers,
        {"Labels": labels} if labels else None,
        image_overrides={"created": created},
    )


async def load(service: ImageService, tmp_path: Path, tags: list[str], image: object) -> str:
    path = tmp_path / f"{next(_archives)}.tar"
    info = write_docker_save(path, tags, image)  # type: ignore[arg-type]
    await load_file(service, path)
    return info.id


@pytest.fixture
async def three(service: ImageService, tmp_path: Path) -> dict[str, str]:
    return {
        "old": await load(
            service, tmp_path, ["app:old"], image_with("old", "2020-01-01T00:00:00Z", {"tier": "a"})
        ),
        "mid": await load(
            service,
            tmp_path,
            ["app:mid", "other/app:mid"],
            image_with("mid", "2021-06-01T12:00:00.5Z", {"tier": "b", "x": "1"}),
        ),
        "new": await load(
            service, tmp_path, ["tool:new"], image_with("new", "2022-01-01T00:00:00Z")
        ),
    }


def ids(entries: list[ImageSummary]) -> list[str]:
    return [entry["Id"] for entry in entries]


async def test_list_and_filters(service: ImageService, three: dict[str, str]) -> None:
    before = dict(service.rpc_counts())
    listed = service.list()
    assert ids(listed) == [three["new"], three["mid"], three["old"]]  # newest first
    mid = listed[1]
    assert mid["RepoTags"] == ["app:mid", "other/app:mid"]
    assert mid["RepoDigests"] == []  # the newest API's shape; 1.41 says null
    assert mid["Labels"] == {"tier": "b", "x": "1"}
    assert (mid["ParentId"], mid["SharedSize"], mid["Containers"]) == ("", -1, -1)
    assert mid["Created"] == 1622548800
    assert ids(service.list(filters={"reference": ["app"]})) == [three["mid"], three["old"]]
    only = service.list(filters={"reference": ["app:m*"]})
    assert [(e["Id"], e["RepoTags"]) for e in only] == [(three["mid"], ["app:mid"])]
    assert ids(service.list(filters={"reference": ["*/app"]})) == [three["mid"]]
    assert ids(service.list(filters={"label": ["tier"]})) == [three["mid"], three["old"]]
    assert ids(service.list(filters={"label": ["tier=b", "x=1"]})) == [three["mid"]]
    assert ids(service.list(filters={"before": ["app:mid"]})) == [three["old"]]
    assert ids(service.list(filters={"since": ["app:mid"]})) == [three["new"]]
    assert service.list(filters={"dangling": ["true"]}) == []
    assert len(service.list(filters={"dangling": ["false"]})) == 3
    assert dict(service.rpc_counts()) == before  # lists cost no RPC
    with pytest.raises(InvalidParameter, match="Invalid filter 'nope'"):
        service.list(filters={"nope": ["x"]})
    with pytest.raises(InvalidParameter, match=r"Invalid filter 'dangling=\[maybe\]'"):
        service.list(filters={"dangling": ["maybe"]})
    with pytest.raises(NotFound, match="No such image: ghost:latest"):
        service.list(filters={"before": ["ghost"]})


async def test_inspect_history_and_unknown_names(
    service: ImageService, three: dict[str, str]
) -> None:
    doc = service.inspect("app:mid")
    assert doc["Id"] == three["mid"]
    assert doc["Created"] == "2021-06-01T12:00:00.5Z"
    assert doc["RepoDigests"] == []
    assert doc["Config"] is not None and doc["Config"]["Labels"] == {"tier": "b", "x": "1"}
    assert doc["RootFS"]["Type"] == "layers" and len(doc["RootFS"]["Layers"]) == 2
    assert doc["GraphDriver"]["Name"] == "overlayfs"
    assert doc["Metadata"] == {"LastTagTime": "0001-01-01T00:00:00Z"}
    history = service.history("app:mid")
    assert [h["Id"] for h in history] == [three["mid"], "<missing>"]
    assert history[0]["Tags"] == ["app:mid", "other/app:mid"] and history[1]["Tags"] is None
    assert history[0]["CreatedBy"] == "moorage test layer 1"
    assert history[0]["Size"] > 0 and history[1]["Size"] > 1_000_000
    with pytest.raises(NotFound) as caught:
        service.inspect("nosuch")
    assert str(caught.value) == "no such image: nosuch: No such image: nosuch:latest"
    with pytest.raises(NoSuchImage, match="No such image: app:nope"):
        service.resolve("app:nope")
    with pytest.raises(InvalidParameter):
        service.resolve("UPPER")
    # A short ID resolves only when unique.
    assert service.resolve(three["old"][7:19]).id == three["old"]


async def test_tag_moves_names_and_emits_events(
    service: ImageService, three: dict[str, str]
) -> None:
    events = Events()
    service.set_event_sink(events)
    assert await service.tag("app:old", "docker.io/library/app", "mid") == "app:mid"
    assert service.resolve("app:mid").id == three["old"]
    assert service.resolve("other/app:mid").id == three["mid"]  # still named
    assert events.seen == [("tag", three["old"], {"tier": "a", "name": "app:mid"})]
    assert service.inspect("app:old")["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
    await service.tag(three["new"], "localhost:5000/x/y")
    assert service.resolve("localhost:5000/x/y:latest").id == three["new"]
    with pytest.raises(InvalidParameter, match="refusing to create a tag with a digest"):
        await service.tag("app:old", "app@sha256:" + "a" * 64)
    with pytest.raises(InvalidParameter):
        await service.tag("app:old", "app", "bad tag")
    with pytest.raises(NotFound):
        await service.tag("ghost", "app", "x")


async def test_rmi_untags_then_deletes_and_frees_what_no_one_uses(
    service: ImageService, three: dict[str, str]
) -> None:
    events = Events()
    service.set_event_sink(events)
    mid = service.resolve(three["mid"])
    assert await service.delete("app:mid") == [{"Untagged": "app:mid"}]
    assert events.actions() == ["untag"]
    records = await service.delete("other/app:mid")
    assert records[0] == {"Untagged": "other/app:mid"}
    assert records[1] == {"Deleted": three["mid"]}
    # The top layer was its own; the busybox layer below is shared with the others.
    assert records[2:] == [{"Deleted": mid.chain_ids[1]}]
    assert events.actions() == ["untag", "untag", "delete"]
    with pytest.raises(NoSuchImage):
        service.resolve(three["mid"])
    # containerd's GC took the content and the layer.
    store = content_of(service)
    for layer in mid.content.layers:
        if layer.digest not in {d.digest for i in service.images() for d in i.content.layers}:
            with pytest.raises(NotFoundError):
                await store.info(layer.digest)
    names = {info.name for info in await service.store.unpacker.snapshots()}
    assert mid.chain_ids[1] not in names and mid.chain_ids[0] in names
    with pytest.raises(NotFound, match="No such image: app:mid"):
        await service.delete("app:mid")


async def test_rmi_conflicts(service: ImageService, three: dict[str, str]) -> None:
    usage = Usage()
    service.set_usage_checker(usage)
    old_sid, new_sid = three["old"][7:19], three["new"][7:19]
    usage.users[three["old"]] = ["abcdef1234567890"]
    with pytest.raises(Conflict) as caught:
        await service.delete("app:old")
    assert str(caught.value) == (
        'conflict: unable to remove repository reference "app:old" (must force) - '
        f"container abcdef123456 is using its referenced image {old_sid}"
    )
    with pytest.raises(ImageConflict) as caught:
        await service.delete(three["old"])
    assert str(caught.value) == (
        f"conflict: unable to delete {old_sid} (must be forced) - "
        "image is being used by stopped container abcdef123456"
    )
    # A running container blocks even force.
    usage.users[three["new"]] = [ImageUse("fedcba9876543210", running=True)]
    with pytest.raises(ImageConflict) as caught:
        await service.delete(three["new"], force=True)
    assert str(caught.value) == (
        f"conflict: unable to delete {new_sid} (cannot be forced) - "
        "image is being used by running container fedcba987654"
    )
    # Two repositories name it: by ID it needs force.
    mid_sid = three["mid"][7:19]
    with pytest.raises(
        ImageConflict,
        match=f"unable to delete {mid_sid} \\(must be forced\\) - "
        "image is referenced in multiple repositories",
    ):
        await service.delete(three["mid"])
    records = await service.delete(mid_sid, force=True)
    assert records[:3] == [
        {"Untagged": "app:mid"},
        {"Untagged": "other/app:mid"},
        {"Deleted": three["mid"]},
    ]
    # Forced past a stopped container: deleted, but its layers stay for the container.
    assert await service.delete("app:old", force=True) == [
        {"Untagged": "app:old"},
        {"Deleted": three["old"]},
    ]


async def test_prune(service: ImageService, tmp_path: Path, three: dict[str, str]) -> None:
    events = Events()
    service.set_event_sink(events)
    usage = Usage()
    service.set_usage_checker(usage)
    dangling = await load(service, tmp_path, [], image_with("dangling", "2019-01-01T00:00:00Z"))
    report = await service.prune()
    assert report["ImagesDeleted"] is not None
    assert report["ImagesDeleted"][0] == {"Deleted": dangling}
    assert report["SpaceReclaimed"] > 0
    assert events.seen[-1] == ("prune", "", {"reclaimed": str(report["SpaceReclaimed"])})
    assert await service.prune() == {"ImagesDeleted": None, "SpaceReclaimed": 0}
    usage.users[three["new"]] = ["0123456789ab"]
    report = await service.prune({"dangling": ["false"], "label": ["tier=b"]})
    assert report["ImagesDeleted"] is not None
    deleted = [e.get("Deleted") for e in report["ImagesDeleted"] if "Deleted" in e]
    assert deleted[0] == three["mid"]
    report = await service.prune({"dangling": ["false"], "until": ["2021-01-01T00:00:00Z"]})
    assert report["ImagesDeleted"] is not None
    assert report["ImagesDeleted"][0] == {"Untagged": "app:old"}
    assert [i.id for i in service.images()] == [three["new"]]  # in use: kept
    with pytest.raises(InvalidParameter, match="Invalid filter 'reference'"):
        await service.prune({"reference": ["x"]})


async def test_names_persist_across_a_restart(
    service: ImageService,
    containerd: TestContainerd,
    namespace: str,
    tmp_path: Path,
    three: dict[str, str],
) -> None:
    await service.tag("app:old", "keep", "me")
    await service.delete("tool:new")
    expected = service.list()
    async with service_in(containerd, namespace, tmp_path / "again") as again:
        assert again.list() == expected
        assert again.resolve("keep:me").id == three["old"]
        assert again.inspect("keep:me") == service.inspect("keep:me")
        before = dict(again.rpc_counts())
        again.resolve("app:mid")
        assert count_delta(before, dict(again.rpc_counts())) == {}


async def test_start_reads_every_image_once(
    service: ImageService,
    containerd: TestContainerd,
    namespace: str,
    tmp_path: Path,
    three: dict[str, str],
) -> None:
    async with connected(containerd, namespace=namespace) as (client, _):
        again = new_service(tmp_path / "count")
        before = dict(client.rpc_counts())
        await again.start(client)
        # One list, a manifest and a config per image, one snapshot list.
        assert count_delta(before, dict(client.rpc_counts())) == {
            "Images.List": 1,
            "Content.Read": 6,
            "Snapshots.List": 1,
        }
