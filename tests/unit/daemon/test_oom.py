"""Reading the OOM-kill count a memory cgroup keeps, on cgroup v1 and v2 layouts."""

from __future__ import annotations

from pathlib import Path

from daemon.container.oom import oom_killed


def test_cgroup_v1_oom_control(tmp_path: Path) -> None:
    group = tmp_path / "memory" / "moorage" / "c1"
    group.mkdir(parents=True)
    (group / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert oom_killed("/moorage/c1", root=tmp_path)
    (group / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert not oom_killed("/moorage/c1", root=tmp_path)


def test_cgroup_v2_memory_events(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    group = tmp_path / "moorage" / "c2"
    group.mkdir(parents=True)
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert oom_killed("/moorage/c2", root=tmp_path)


def test_missing_cgroup_is_not_an_oom(tmp_path: Path) -> None:
    assert not oom_killed("/moorage/gone", root=tmp_path)
    assert not oom_killed("", root=tmp_path)
