"""The `changes` of commit and import: Dockerfile instructions applied to a config."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.errors import InvalidParameter
from daemon.images.changes import apply_changes, merge, parse_duration


def test_each_instruction_sets_its_field() -> None:
    config = apply_changes(
        {"WorkingDir": "/srv"},
        [
            'CMD ["x", "y"]',
            'env A=1 B="two words"',
            "ENV C three four",
            "EXPOSE 80 53/udp 1000-1001",
            'LABEL a=b "c d"=e',
            "USER nobody:nogroup",
            'VOLUME ["/data", "/logs"]',
            "VOLUME /cache /tmp/x",
            "WORKDIR app",
            "ONBUILD run echo hi",
            "HEALTHCHECK --interval=1m30s --retries=3 CMD curl -f http://localhost/",
        ],
    )
    assert config["Cmd"] == ["x", "y"]
    assert config["Env"] == ["A=1", "B=two words", "C=three four"]
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "1000/tcp": {}, "1001/tcp": {}}
    assert config["Labels"] == {"a": "b", "c d": "e"}
    assert config["User"] == "nobody:nogroup"
    assert config["Volumes"] == {"/data": {}, "/logs": {}, "/cache": {}, "/tmp/x": {}}
    assert config["WorkingDir"] == "/srv/app"
    assert config["OnBuild"] == ["run echo hi"]
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "curl -f http://localhost/"],
        "Interval": 90 * 10**9,
        "Retries": 3,
    }


def test_shell_forms_and_entrypoint_resetting_cmd() -> None:
    assert apply_changes({}, ["CMD echo hi"])["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    config = apply_changes({"Cmd": ["old"]}, ["ENTRYPOINT top -b"])
    assert config["Entrypoint"] == ["/bin/sh", "-c", "top -b"]
    assert config["Cmd"] is None
    both = apply_changes({}, ['CMD ["-b"]', 'ENTRYPOINT ["top"]'])
    assert (both["Entrypoint"], both["Cmd"]) == (["top"], ["-b"])
    assert apply_changes({}, ["HEALTHCHECK NONE"])["Healthcheck"] == {"Test": ["NONE"]}


def test_env_replaces_a_key_in_place() -> None:
    config = apply_changes({"Env": ["PATH=/bin", "A=1"]}, ["ENV PATH=/usr/bin"])
    assert config["Env"] == ["PATH=/usr/bin", "A=1"]


def test_the_input_config_is_not_changed() -> None:
    original = {"Env": ["A=1"]}
    apply_changes(original, ["ENV A=2"])
    assert original == {"Env": ["A=1"]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (["STOPSIGNAL 9"], "stopsignal is not a valid change command"),
        (["RUN true"], "run is not a valid change command"),
        (["CMD x", "FROM busybox"], "from is not a valid change command"),
        (["EXPOSE eighty"], "Invalid containerPort: eighty"),
        (["ONBUILD ONBUILD CMD x"], "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        (["ONBUILD FROM x"], "FROM isn't allowed as an ONBUILD trigger"),
        (["HEALTHCHECK --interval=soon CMD x"], 'time: invalid duration "soon"'),
        (["HEALTHCHECK RUN x"], 'Unknown type "RUN" in HEALTHCHECK (try CMD)'),
        # Digits Python calls digits and int() refuses (found by fuzzing): a 400, not a 500.
        (
            ["HEALTHCHECK --retries=\u00b9 CMD x"],
            'strconv.ParseInt: parsing "\u00b9": invalid syntax',
        ),
        (["EXPOSE \u00b9"], "Invalid containerPort: \u00b9"),
    ],
)
def test_bad_changes_are_refused_as_dockerd(changes: list[str], message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        apply_changes({}, changes)
    assert caught.value.message == message


def test_an_invalid_instruction_refuses_the_whole_list_before_any_applies() -> None:
    with pytest.raises(InvalidParameter):
        apply_changes({}, ["ENV A=1", "MAINTAINER me"])


def test_durations_in_go_syntax() -> None:
    assert parse_duration("30s") == 30 * 10**9
    assert parse_duration("1h2m") == 3720 * 10**9
    assert parse_duration("1.5s") == 1_500_000_000
    assert parse_duration("250ms") == 250_000_000


def test_merge_fills_what_the_changes_left_unset() -> None:
    container: dict[str, Any] = {
        "User": "root",
        "Env": ["A=1", "B=2"],
        "Cmd": ["sh"],
        "Entrypoint": None,
        "ExposedPorts": {"80/tcp": {}},
        "Labels": {"x": "1", "y": "2"},
        "WorkingDir": "/w",
        "Volumes": {"/v": {}},
        "StopSignal": "SIGINT",
        "Hostname": "abc",
    }
    merged = merge(apply_changes({}, ["ENV B=3", "LABEL y=9", "EXPOSE 443"]), container)
    assert merged["Env"] == ["B=3", "A=1"]
    assert merged["Labels"] == {"x": "1", "y": "9"}
    assert merged["ExposedPorts"] == {"80/tcp": {}, "443/tcp": {}}
    assert merged["Cmd"] == ["sh"]
    assert merged["User"] == "root"
    assert merged["WorkingDir"] == "/w"
    assert merged["Volumes"] == {"/v": {}}
    assert merged["StopSignal"] == "SIGINT"
    assert "Hostname" not in merged  # not merged: a committed image has none
    with_cmd = merge(apply_changes({}, ['CMD ["x"]']), container)
    assert with_cmd["Cmd"] == ["x"]
    with_entrypoint = merge(apply_changes({}, ['ENTRYPOINT ["e"]']), container)
    assert (with_entrypoint["Entrypoint"], with_entrypoint["Cmd"]) == (["e"], None)
