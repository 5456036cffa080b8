"""The replies of inspect and list have dockerd's keys in dockerd's order (docker inspect
prints them so), built by the real code path: request model, create-time validation and
merge, presenters. No containerd: the container is only created in memory."""

import json
from pathlib import Path
from typing import Any

import pytest

from api.routes.presenters import inspect_container, summarize_container, summary_json
from api.streams import json_line
from daemon.container.live import LiveContainer
from daemon.container.model import Container, now_rfc3339
from daemon.container.spec import ContainerSpecs
from daemon.container.state import Input, StateMachine
from tests.support import dockerd
from wire.api_versions import ApiVersion
from wire.container import ContainerCreateRequest, OCIDescriptor, summary_at

IMAGE_CONFIG = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}


@pytest.fixture(scope="module")
def specs() -> ContainerSpecs:
    return ContainerSpecs()


def created(specs: ContainerSpecs, tmp_path: Path, body: dict[str, Any]) -> LiveContainer:
    """A container as `Daemon.create` makes it, short of containerd."""
    request = ContainerCreateRequest.model_validate(body)
    config, host_config = request.parts()
    host_config["Runtime"] = "io.containerd.runc.v2"  # the daemon names the runtime
    model = Container(
        id="c" * 64,
        name="/shape",
        created=now_rfc3339(),
        path="",
        args=[],
        config=config,
        host_config=host_config,
        image_id="sha256:" + "b" * 64,
        runtime="io.containerd.runc.v2",
        directory=str(tmp_path),
    )
    specs.prepare_create(model, IMAGE_CONFIG, request)
    return LiveContainer(model, StateMachine(model, lambda _: None))


def as_sent(obj: Any) -> Any:
    return json.loads(json_line(obj))


def test_inspect_of_a_minimal_create_has_dockerds_keys(
    specs: ContainerSpecs, tmp_path: Path
) -> None:
    # A client that sends no HostConfig (curl, some SDKs) still gets all of it back.
    out = as_sent(inspect_container(created(specs, tmp_path, {"Image": "busybox", "Cmd": "true"})))
    assert tuple(out) == dockerd.INSPECT_KEYS
    assert tuple(out["State"]) == dockerd.STATE_KEYS
    assert tuple(out["HostConfig"]) == dockerd.HOST_CONFIG_KEYS
    assert tuple(out["Config"]) == dockerd.CONFIG_KEYS
    assert tuple(out["NetworkSettings"]) == dockerd.NETWORK_SETTINGS_KEYS
    assert out["Config"]["Cmd"] == ["true"] and out["Config"]["Hostname"] == "c" * 12
    assert out["HostConfig"]["Runtime"] == "io.containerd.runc.v2"
    assert out["ExecIDs"] is None and out["GraphDriver"] == {"Data": None, "Name": "overlayfs"}


def test_inspect_keeps_omitempty_fields_in_place(specs: ContainerSpecs, tmp_path: Path) -> None:
    body = {
        "Image": "busybox",
        "Cmd": ["sh"],
        "ExposedPorts": {"80/tcp": {}},
        "StopSignal": "SIGINT",
        "StopTimeout": 3,
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000},
        "HostConfig": {"Init": True, "Tmpfs": {"/run": "rw"}},
    }
    out = as_sent(inspect_container(created(specs, tmp_path, body)))
    assert tuple(out["Config"]) == dockerd.CONFIG_KEYS_ALL_SET
    host_keys = list(out["HostConfig"])
    assert host_keys[host_keys.index("SecurityOpt") + 1] == "Tmpfs"
    assert host_keys[-1] == "Init" and out["HostConfig"]["Init"] is True
    assert out["Config"]["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 1_000_000_000}


def test_list_entry_has_dockerds_keys(specs: ContainerSpecs, tmp_path: Path) -> None:
    live = created(specs, tmp_path, {"Image": "busybox", "Cmd": ["true"]})
    out = as_sent(summarize_container(live))
    assert tuple(out) == dockerd.SUMMARY_KEYS
    assert out["HostConfig"] == {"NetworkMode": "default"} and out["Command"] == "true"
    sized = list(as_sent(summarize_container(live, size_rw=5, size_root_fs=9)))
    assert sized[sized.index("Ports") + 1 : sized.index("Ports") + 3] == ["SizeRw", "SizeRootFs"]
    # omitempty: a zero size is left out.
    assert "SizeRw" not in as_sent(summarize_container(live, size_rw=0, size_root_fs=9))


def test_list_entry_bytes_follow_the_container(specs: ContainerSpecs, tmp_path: Path) -> None:
    """The kept bytes of a list entry are what the dict path gives, before and after the
    container changes (state, name, an update's HostConfig) and at another API version."""
    body = {"Image": "busybox", "Cmd": ["true"], "Labels": {"a": "b"}}
    live = created(specs, tmp_path, body)
    manifest: OCIDescriptor = {"mediaType": "m", "digest": "sha256:" + "d" * 64, "size": 1}

    def expected(version: ApiVersion, shown: OCIDescriptor | None = manifest) -> Any:
        entry = summarize_container(live, manifest=shown)
        return as_sent(summary_at(entry, version, live.model.state.health))

    newest, old = ApiVersion(1, 48), ApiVersion(1, 41)
    cases: list[tuple[ApiVersion, OCIDescriptor | None]] = [
        (newest, manifest),
        (newest, None),
        (old, manifest),
    ]
    for version, shown in cases:
        kept = json.loads(summary_json(live, version, shown))
        assert kept == expected(version, shown) and tuple(kept) == tuple(expected(version, shown))
    live.machine.apply(Input.STARTED, pid=42)
    assert json.loads(summary_json(live, newest, manifest))["State"] == "running"
    live.model.name = "/renamed"
    assert json.loads(summary_json(live, newest, manifest)) == expected(newest)
    live.model.host_config = {**live.model.host_config, "NetworkMode": "host"}
    assert json.loads(summary_json(live, newest, manifest))["HostConfig"]["NetworkMode"] == "host"
    live.machine.apply(Input.EXITED, exit_code=3)
    kept = json.loads(summary_json(live, old, None))
    assert kept == expected(old, None) and kept["Status"].startswith("Exited (3)")
