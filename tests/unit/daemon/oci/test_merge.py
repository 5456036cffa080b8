"""Config merge with the image config, dockerd's rules."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from daemon.oci.defaults import DEFAULT_PATH
from daemon.oci.errors import SpecError
from daemon.oci.merge import merge_config, process_env, replace_or_append_env, stop_signal

CID = "0123456789abcdef" * 4
IMAGE: dict[str, Any] = {
    "Env": ["PATH=/image/bin", "LANG=C"],
    "Cmd": ["image-cmd", "arg"],
    "Entrypoint": ["/entry"],
    "WorkingDir": "/srv",
    "User": "daemon",
    "StopSignal": "SIGQUIT",
    "Labels": {"a": "image", "b": "image"},
}


def merge(request: dict[str, Any], image: dict[str, Any] | None = None) -> Any:
    return merge_config(request, IMAGE if image is None else image, container_id=CID)


def test_image_fills_everything_the_request_leaves_out() -> None:
    merged = merge({"Image": "img"})
    assert merged.config["Entrypoint"] == ["/entry"]
    assert merged.config["Cmd"] == ["image-cmd", "arg"]
    assert (merged.path, merged.args) == ("/entry", ["image-cmd", "arg"])
    assert merged.config["WorkingDir"] == "/srv"
    assert merged.config["User"] == "daemon"
    assert merged.config["StopSignal"] == "SIGQUIT"
    assert merged.config["Env"] == ["PATH=/image/bin", "LANG=C"]
    assert merged.config["Hostname"] == CID[:12]
    assert merged.config["Image"] == "img"


def test_request_cmd_keeps_image_entrypoint() -> None:
    merged = merge({"Cmd": ["x"]})
    assert merged.argv == ["/entry", "x"]


def test_request_entrypoint_drops_image_cmd() -> None:
    merged = merge({"Entrypoint": ["/mine"]})
    assert merged.config["Cmd"] is None
    assert merged.argv == ["/mine"]


def test_request_entrypoint_and_cmd() -> None:
    assert merge({"Entrypoint": ["/mine"], "Cmd": ["a"]}).argv == ["/mine", "a"]


def test_entrypoint_given_as_string() -> None:
    assert merge({"Entrypoint": "/mine"}).argv == ["/mine"]


def test_empty_string_entrypoint_clears_it() -> None:
    merged = merge({"Entrypoint": [""], "Cmd": ["echo", "hi"]})
    assert merged.config["Entrypoint"] is None
    assert (merged.path, merged.args) == ("echo", ["hi"])


def test_empty_string_entrypoint_without_cmd_has_no_command() -> None:
    with pytest.raises(SpecError, match=r"^No command specified$") as err:
        merge({"Entrypoint": [""]})
    assert err.value.http_status == 400


def test_no_command_at_all() -> None:
    with pytest.raises(SpecError, match="No command specified"):
        merge({}, {"Env": []})


def test_env_request_overrides_image_and_comes_first() -> None:
    merged = merge({"Env": ["LANG=en", "X=1"]})
    assert merged.config["Env"] == ["LANG=en", "X=1", "PATH=/image/bin"]


def test_env_none_anywhere() -> None:
    assert merge({"Cmd": ["x"]}, {}).config["Env"] is None


def test_labels_merged_request_wins() -> None:
    merged = merge({"Labels": {"b": "req", "c": "req"}})
    assert merged.config["Labels"] == {"a": "image", "b": "req", "c": "req"}


def test_request_values_win() -> None:
    merged = merge({"WorkingDir": "/w", "User": "1:2", "StopSignal": "SIGUSR1", "Cmd": ["x"]})
    assert merged.config["WorkingDir"] == "/w"
    assert merged.config["User"] == "1:2"
    assert stop_signal(merged.config) == 10


def test_defaults_when_neither_sets() -> None:
    merged = merge({"Cmd": ["x"]}, {})
    assert merged.config["WorkingDir"] == ""
    assert merged.config["User"] == ""
    assert "StopSignal" not in merged.config
    assert stop_signal(merged.config) == 15
    assert merged.config["Labels"] == {}


def test_host_config_is_not_part_of_config() -> None:
    merged = merge({"Cmd": ["x"], "HostConfig": {"Memory": 1}, "NetworkingConfig": {}})
    assert "HostConfig" not in merged.config and "NetworkingConfig" not in merged.config


def test_input_not_mutated() -> None:
    request: dict[str, Any] = {"Env": ["A=1"], "Labels": {"x": "y"}}
    merge(request)
    assert request == {"Env": ["A=1"], "Labels": {"x": "y"}}


def test_hostname_kept_or_host_network_uses_host() -> None:
    assert merge({"Hostname": "web"}).config["Hostname"] == "web"
    merged = merge_config(
        {"HostConfig": {"NetworkMode": "host"}}, IMAGE, container_id=CID, host_hostname="box"
    )
    assert merged.config["Hostname"] == "box"
    on_host = merge_config({"HostConfig": {"NetworkMode": "host"}}, IMAGE, container_id=CID)
    assert on_host.config["Hostname"] == socket.gethostname()


def test_healthcheck_and_volumes_and_ports_merge() -> None:
    image = {
        "Cmd": ["x"],
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 3},
        "Volumes": {"/data": {}},
        "ExposedPorts": {"80/tcp": {}},
    }
    merged = merge({"Healthcheck": {"Interval": 9}, "ExposedPorts": {"81/tcp": {}}}, image)
    assert merged.config["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 9, "Retries": 3}
    assert merged.config["Volumes"] == {"/data": {}}
    assert merged.config["ExposedPorts"] == {"80/tcp": {}, "81/tcp": {}}


def test_process_env_defaults_and_overrides() -> None:
    config = {"Hostname": "h", "Tty": True, "Env": ["PATH=/x", "A=1"]}
    assert process_env(config) == ["PATH=/x", "HOSTNAME=h", "TERM=xterm", "A=1"]
    assert process_env({"Hostname": "h"}) == [f"PATH={DEFAULT_PATH}", "HOSTNAME=h"]


def test_env_without_equals_unsets() -> None:
    assert replace_or_append_env(["A=1", "B=2"], ["A", "C"]) == ["B=2"]
