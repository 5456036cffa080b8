"""The daemon's options: dockerd's flag and key names, their checks, and what a reload
applies (pure logic; the integration tests in tests/integration/daemon/test_operator.py
run daemons with them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.config import ConfigError, load, load_config, reload
from daemon.container.spec import ContainerDefaults
from daemon.options import OPTIONS, REFUSED, parser

ROOT = Path(__file__).resolve().parents[3]


def _with_file(tmp_path: Path, data: object, *flags: str) -> list[str]:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(data))
    return ["--config-file", str(path), "--bridge", "none", *flags]


def test_every_option_has_help_and_is_in_the_options_table() -> None:
    doc = (ROOT / "docs/daemon-options.md").read_text()
    shown = parser().format_help()
    for option in OPTIONS:
        assert option.help.strip(), option.key
        assert f"| `{option.key}` |" in doc, option.key
        assert option.flags[-1] in shown, option.key
    for key in REFUSED:
        assert f"| `{key}` |" in doc, key


def test_bool_flags_take_gos_forms(tmp_path: Path) -> None:
    assert load_config(_with_file(tmp_path, {}, "--live-restore")).live_restore is True
    assert load_config(_with_file(tmp_path, {}, "--live-restore=false")).live_restore is False
    config = load_config(_with_file(tmp_path, {}, "-D"))
    assert (config.debug, config.log_level) == (True, "debug")


def test_flags_and_file_give_the_same_settings(tmp_path: Path) -> None:
    from_flags = load_config(
        _with_file(
            tmp_path, {},
            "--default-ulimit", "nofile=100:200", "--log-opt", "max-size=1m",
            "--label", "a=b", "--default-shm-size", "1g", "--shutdown-timeout", "3",
            "--default-address-pool", "base=10.10.0.0/16,size=24",
        )
    )  # fmt: skip
    from_file = load_config(
        _with_file(
            tmp_path,
            {
                "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 100, "Hard": 200}},
                "log-opts": {"max-size": "1m"},
                "labels": ["a=b"],
                "default-shm-size": "1g",
                "shutdown-timeout": 3,
                "default-address-pools": [{"base": "10.10.0.0/16", "size": 24}],
            },
        )
    )
    for config in (from_flags, from_file):
        assert config.ulimits() == [{"Name": "nofile", "Soft": 100, "Hard": 200}]
        assert config.log_opts == {"max-size": "1m"}
        assert (config.labels, config.default_shm_size) == (["a=b"], 1024**3)
        assert config.shutdown_timeout == 3
        assert config.address_pools() == (("10.10.0.0/16", 24),)


def test_conflicts_name_both_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_with_file(tmp_path, {"labels": ["x=1"]}, "--label", "y=2"))
    assert str(raised.value).endswith(
        "specified both as a flag and in the configuration file: "
        "labels: (from flag: [y=2], from file: [x=1])"
    )


@pytest.mark.parametrize(
    ("data", "flags", "message"),
    [
        ({}, ["--mtu", "1400"], "dockerd options moorage does not support: mtu ("),
        ({}, ["--bip", "10.0.0.0/24"], "invalid bip 10.0.0.0/24: a host address and its prefix"),
        ({"bip": "10.0.0.1/24", "fixed-cidr": "10.1.0.0/25"}, [], "is not a part of bip"),
        ({}, ["--default-address-pool", "base=10.0.0.0/16,size=8"], "between 16 and 30"),
        ({"icc": False}, [], "icc (containers on a bridge always reach each other)"),
        ({}, ["--log-driver", "syslog"], "no log driver named 'syslog' is registered"),
        ({}, ["--default-ulimit", "nofile=5:1"], "soft limit must be less than or equal"),
        ({}, ["--label", "novalue"], "bad attribute format: novalue"),
        ({}, ["--registry-mirror", "mirror.test"], 'invalid mirror: unsupported scheme ""'),
        ({}, ["--dns", "resolver.test"], "resolver.test is not an ip address"),
        ({"shutdown-timeout": "10"}, [], "shutdown-timeout in the configuration file must be an"),
        ({}, ["--max-concurrent-downloads", "0"], "max-concurrent-downloads must be at least 1"),
        ({}, ["--seccomp-profile", "/nonexistent.json"], "opening seccomp profile"),
    ],
)
def test_refused(tmp_path: Path, data: object, flags: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_with_file(tmp_path, data, *flags))
    assert message in str(raised.value)


def test_a_foreign_bridge_and_netfilter_off_need_bridge_none(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text("{}")
    with pytest.raises(ConfigError, match="use -b none"):
        load_config(["--config-file", str(path), "--bridge", "docker0"])
    with pytest.raises(ConfigError, match="iptables=false needs --bridge none"):
        load_config(["--config-file", str(path), "--iptables=false"])
    assert load_config(["--config-file", str(path), "-b", "none", "--iptables=false"])


def test_reload_applies_reloadable_keys_in_place(tmp_path: Path) -> None:
    loaded = load(_with_file(tmp_path, {"labels": ["a=1"], "data-root": str(tmp_path / "d1")}))
    config = loaded.config
    path = Path(config.config_file)
    path.write_text(
        json.dumps({"labels": ["a=2"], "debug": True, "data-root": str(tmp_path / "d2")})
    )
    changes, later = reload(loaded)
    assert {c.key for c in changes} == {"labels", "debug", "log-level"}
    assert (config.labels, config.debug, config.log_level) == (["a=2"], True, "debug")
    assert later == ["data-root"] and config.data_root == tmp_path / "d1"
    path.write_text('{"labels": ["a=3"], "icc": false}')
    with pytest.raises(ConfigError):
        reload(loaded)
    assert config.labels == ["a=2"]


def test_container_defaults_sit_under_the_containers_own() -> None:
    defaults = ContainerDefaults(
        log_driver="json-file",
        log_opts={"max-size": "1m", "max-file": "3"},
        ulimits=[{"Name": "nofile", "Soft": 1, "Hard": 2}, {"Name": "nproc", "Soft": 3, "Hard": 4}],
        seccomp="unconfined",
        dns=["192.0.2.1"],
    )
    assert defaults.log_config({}) == ("json-file", {"max-size": "1m", "max-file": "3"})
    assert defaults.log_config({"Type": "json-file", "Config": {"max-file": "9"}}) == (
        "json-file",
        {"max-size": "1m", "max-file": "9"},
    )
    assert defaults.log_config({"Type": "none"}) == ("none", {})
    own = {
        "Ulimits": [{"Name": "nofile", "Soft": 7, "Hard": 8}],
        "Dns": ["198.51.100.1"],
        "SecurityOpt": ["seccomp=unconfined"],
    }
    spec = defaults.for_spec(own)
    assert spec["Ulimits"] == [
        {"Name": "nofile", "Soft": 7, "Hard": 8},
        {"Name": "nproc", "Soft": 3, "Hard": 4},
    ]
    assert spec["Dns"] == ["198.51.100.1"] and spec["SecurityOpt"] == ["seccomp=unconfined"]
    assert defaults.for_spec({})["SecurityOpt"] == ["seccomp=unconfined"]
    assert own["Ulimits"] == [{"Name": "nofile", "Soft": 7, "Hard": 8}]  # not changed
