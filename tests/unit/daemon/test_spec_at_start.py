"""A start after a create: the spec create built is not built again unless something it
was built from changed (the container's config, or a rootfs file the build read)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from daemon.container.model import Container, now_rfc3339
from daemon.container.spec import ContainerSpecs
from libcontainerd import specs as lcd_specs
from libcontainerd.types import Mount
from wire.container import ContainerCreateRequest

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"


def _created(tmp_path: Path, body: dict[str, Any]) -> tuple[ContainerSpecs, Container, Mount]:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "passwd").write_text(PASSWD)
    (rootfs / "etc" / "group").write_text("root:x:0:\napp:x:1000:\n")
    directory = tmp_path / "container"
    directory.mkdir()
    request = ContainerCreateRequest.model_validate(body)
    config, host_config = request.parts()
    host_config["Runtime"] = "io.containerd.runc.v2"
    model = Container(
        id="d" * 64, name="/memo", created=now_rfc3339(), path="", args=[], config=config,
        host_config=host_config, image_id="sha256:" + "b" * 64,
        runtime="io.containerd.runc.v2", directory=str(directory),
    )  # fmt: skip
    specs = ContainerSpecs()
    specs.prepare_create(model, {}, request)
    return specs, model, Mount(type="bind", source=str(rootfs))


@pytest.fixture
def body() -> dict[str, Any]:
    return {"Image": "busybox", "Cmd": ["true"], "User": "app"}


def test_the_first_start_takes_creates_spec(tmp_path: Path, body: dict[str, Any]) -> None:
    specs, model, mount = _created(tmp_path, body)
    built = specs.factory(model)([mount])
    assert built["process"]["user"]["uid"] == 1000
    assert specs.for_start(model, [mount]) is None
    # Only the first: a later start builds again, the same spec.
    again = specs.for_start(model, [mount])
    assert again is not None
    assert lcd_specs.digest_of(again) == lcd_specs.digest_of(built)


def test_a_passwd_changed_after_create_is_read(tmp_path: Path, body: dict[str, Any]) -> None:
    specs, model, mount = _created(tmp_path, body)
    specs.factory(model)([mount])
    passwd = Path(mount.source) / "etc" / "passwd"
    # As `docker cp` would: same size, same mtime, another uid.
    before = passwd.stat()
    passwd.write_text(PASSWD.replace("1000:1000", "2000:1000"))
    os.utime(passwd, ns=(before.st_atime_ns, before.st_mtime_ns))
    spec = specs.for_start(model, [mount])
    assert spec is not None and spec["process"]["user"]["uid"] == 2000


def test_a_config_changed_after_create_is_built_again(tmp_path: Path, body: dict[str, Any]) -> None:
    specs, model, mount = _created(tmp_path, body)
    specs.factory(model)([mount])
    model.host_config["Memory"] = 64 * 1024 * 1024  # docker update before the start
    spec = specs.for_start(model, [mount])
    assert spec is not None and spec["linux"]["resources"]["memory"]["limit"] == 64 * 1024 * 1024


def test_a_privileged_container_is_always_built_again(tmp_path: Path, body: dict[str, Any]) -> None:
    specs, model, mount = _created(tmp_path, {**body, "HostConfig": {"Privileged": True}})
    specs.factory(model)([mount])
    assert specs.for_start(model, [mount]) is not None  # the host's devices are read again
