"""Which bind mounts expose the daemon (api.routes.bind_warnings): pure path logic."""

from __future__ import annotations

from pathlib import Path

from api.routes.bind_warnings import (
    API_SOCKET,
    DATA_ROOT,
    protected_paths,
    sensitive_bind_warnings,
)


def _warned(tmp_path: Path, host_config: dict[str, object]) -> list[str]:
    root = tmp_path / "data"
    (root / "containers").mkdir(parents=True, exist_ok=True)
    (tmp_path / "run").mkdir(exist_ok=True)
    protected = protected_paths(root, [str(tmp_path / "run" / "api.sock")])
    return sensitive_bind_warnings(host_config, protected)


def test_the_data_root_inside_it_and_above_it(tmp_path: Path) -> None:
    for source in ("data", "data/containers", "."):
        warnings = _warned(tmp_path, {"Binds": [f"{tmp_path / source}:/x"]})
        assert DATA_ROOT in warnings[0] and str(tmp_path / "data") in warnings[0]
        # The common parent holds the socket's directory too.
        assert len(warnings) == (2 if source == "." else 1)


def test_the_socket_and_its_directory(tmp_path: Path) -> None:
    for source in ("run/api.sock", "run"):
        mount = {"Type": "bind", "Source": str(tmp_path / source), "Target": "/s"}
        (warning,) = _warned(tmp_path, {"Mounts": [mount]})
        assert API_SOCKET in warning and "root on the host" in warning


def test_the_root_of_everything_exposes_both(tmp_path: Path) -> None:
    warnings = _warned(tmp_path, {"Binds": ["/:/host:ro"]})
    assert [DATA_ROOT in w for w in warnings] == [True, False]
    assert API_SOCKET in warnings[1]


def test_a_symlink_to_the_data_root_is_seen_through(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "data")
    (warning,) = _warned(tmp_path, {"Binds": [f"{tmp_path / 'link'}:/x"]})
    assert f"{tmp_path / 'link'} ({tmp_path / 'data'})" in warning


def test_other_mounts_are_not_warned_about(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "data-other").mkdir()
    host_config = {
        "Binds": [f"{tmp_path / 'elsewhere'}:/x", f"{tmp_path / 'data-other'}:/y", "named:/v"],
        "Mounts": [{"Type": "volume", "Source": "data", "Target": "/z"},
                   {"Type": "tmpfs", "Target": "/t"}],
    }  # fmt: skip
    assert _warned(tmp_path, host_config) == []
