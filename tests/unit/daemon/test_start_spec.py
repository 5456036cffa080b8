"""Start tells containerd of a spec only when it changed as a JSON value."""

from __future__ import annotations

from daemon.container.start import _changed


def test_key_order_and_tuples_are_no_change() -> None:
    known = {"process": {"args": ["sh"], "env": ["A=1"]}, "root": {"path": "rootfs"}}
    rebuilt = {"root": {"path": "rootfs"}, "process": {"env": ("A=1",), "args": ("sh",)}}
    assert not _changed(rebuilt, known)


def test_an_int_and_an_equal_float_are_the_same_value() -> None:
    # Different bytes; the decoded values decide, as before.
    assert not _changed({"linux": {"shares": 2.0}}, {"linux": {"shares": 2}})


def test_a_different_value_is_a_change() -> None:
    known = {"process": {"args": ["sh"]}, "hostname": "a"}
    assert _changed({"process": {"args": ["sh"]}, "hostname": "b"}, known)
    assert _changed({"process": {"args": ["sh", "-c"]}, "hostname": "a"}, known)
    assert _changed({"process": {"args": ["sh"]}}, known)
