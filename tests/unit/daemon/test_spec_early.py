"""Create's spec built while Snapshots.Prepare is in flight (`CreateSpec.build_early`):
from the layers the last Prepare on the same image showed, kept only when the new
snapshot shows those layers under an upper directory with nothing where the build looked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from daemon.container.model import Container, now_rfc3339
from daemon.container.spec import ContainerSpecs, CreateSpec
from libcontainerd import specs as lcd_specs
from libcontainerd.types import Mount
from wire.container import ContainerCreateRequest

PARENT = "sha256:" + "c" * 64
BODY = {"Image": "busybox", "Cmd": ["true"], "User": "app"}


def _passwd(uid: int) -> str:
    return f"root:x:0:0:root:/root:/bin/sh\napp:x:{uid}:1000::/home/app:/bin/sh\n"


def _layer(path: Path, uid: int) -> str:
    (path / "etc").mkdir(parents=True)
    (path / "etc" / "passwd").write_text(_passwd(uid))
    (path / "etc" / "group").write_text("root:x:0:\napp:x:1000:\n")
    return str(path)


def _snapshot(tmp_path: Path, name: str, lowers: list[str]) -> tuple[Mount, Path]:
    """An overlay rootfs as Snapshots.Prepare answers it: a new, empty upper directory."""
    upper, work = tmp_path / name / "fs", tmp_path / name / "work"
    upper.mkdir(parents=True)
    work.mkdir()
    options = (f"workdir={work}", f"upperdir={upper}", "lowerdir=" + ":".join(lowers))
    return Mount(type="overlay", source="overlay", options=options), upper


def _model(tmp_path: Path, specs: ContainerSpecs, cid: str) -> Container:
    directory = tmp_path / "containers" / cid
    directory.mkdir(parents=True)
    request = ContainerCreateRequest.model_validate(BODY)
    config, host_config = request.parts()
    host_config["Runtime"] = "io.containerd.runc.v2"
    model = Container(
        id=cid, name="/" + cid[:12], created=now_rfc3339(), path="", args=[], config=config,
        host_config=host_config, image_id="sha256:" + "b" * 64,
        runtime="io.containerd.runc.v2", directory=str(directory),
    )  # fmt: skip
    specs.prepare_create(model, {}, request)
    return model


def _uid(spec: dict[str, Any]) -> int:
    uid: int = spec["process"]["user"]["uid"]
    return uid


def _first_create(tmp_path: Path, specs: ContainerSpecs, lowers: list[str]) -> None:
    """A create on PARENT with nothing known of it yet: built after Prepare, as before."""
    builder = specs.factory(_model(tmp_path, specs, "0" * 64), PARENT)
    builder.build_early()
    mount, _ = _snapshot(tmp_path, "first", lowers)
    assert _uid(builder([mount])) == 1000


def _second_create(
    tmp_path: Path, cid: str
) -> tuple[ContainerSpecs, Container, CreateSpec, list[str]]:
    """A create on PARENT after a first one (which showed its layers), built early."""
    specs = ContainerSpecs()
    lowers = [_layer(tmp_path / "l1", 1000)]
    _first_create(tmp_path, specs, lowers)
    model = _model(tmp_path, specs, cid)
    builder = specs.factory(model, PARENT)
    builder.build_early()
    return specs, model, builder, lowers


def test_the_next_create_on_an_image_is_built_early_and_is_the_same_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs, model, builder, lowers = _second_create(tmp_path, "1" * 64)
    mount, _ = _snapshot(tmp_path, "second", lowers)
    with monkeypatch.context() as patched:  # built before Prepare's answer, not after
        patched.setattr(specs, "_create_build", lambda *_: pytest.fail("built again"))
        kept = builder([mount])
    # What a build after Prepare would have made of the same inputs.
    fresh = ContainerSpecs().factory(model)([mount])
    assert lcd_specs.digest_of(kept) == lcd_specs.digest_of(fresh)
    # And the first start takes it, nothing it was built from having changed.
    assert specs.for_start(model, [mount]) is None


def test_an_upper_directory_with_a_file_where_the_build_looked_is_built_again(
    tmp_path: Path,
) -> None:
    _, _, builder, lowers = _second_create(tmp_path, "2" * 64)
    mount, upper = _snapshot(tmp_path, "second", lowers)
    _layer(upper, 2000)  # not what Prepare makes, but the merged view must win
    assert _uid(builder([mount])) == 2000


def test_other_layers_than_the_last_prepares_are_read(tmp_path: Path) -> None:
    # The image removed and pulled again: the same chain id on new snapshot directories.
    specs = ContainerSpecs()
    _first_create(tmp_path, specs, [_layer(tmp_path / "old", 1000)])
    builder = specs.factory(_model(tmp_path, specs, "3" * 64), PARENT)
    builder.build_early()
    mount, _ = _snapshot(tmp_path, "second", [_layer(tmp_path / "new", 3000)])
    assert _uid(builder([mount])) == 3000
    # And the next one is built early from the new layers.
    model = _model(tmp_path, specs, "4" * 64)
    again = specs.factory(model, PARENT)
    again.build_early()
    mount, _ = _snapshot(tmp_path, "third", [str(tmp_path / "new")])
    assert _uid(again([mount])) == 3000


def test_a_passwd_copied_in_before_the_first_start_is_read(tmp_path: Path) -> None:
    specs, model, builder, lowers = _second_create(tmp_path, "5" * 64)
    mount, upper = _snapshot(tmp_path, "second", lowers)
    assert _uid(builder([mount])) == 1000
    _layer(upper, 4000)  # `docker cp` of an /etc/passwd into the created container
    spec = specs.for_start(model, [mount])
    assert spec is not None and _uid(spec) == 4000
