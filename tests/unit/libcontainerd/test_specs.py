"""What a record keeps of a spec, and the digest that tells a start whether it changed."""

from __future__ import annotations

from libcontainerd import jsonbytes, specs
from libcontainerd.remote import anycodec


def test_a_record_keeps_the_process_and_the_cgroup_path_only() -> None:
    process = {"args": ["sh"], "env": ["A=1"], "capabilities": {"bounding": ["CAP_KILL"]}}
    spec = {
        "process": process,
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/proc", "type": "proc"}],
        "linux": {"cgroupsPath": "/docker/c1", "resources": {"devices": []}},
    }
    assert specs.kept(spec) == {"process": process, "linux": {"cgroupsPath": "/docker/c1"}}
    assert specs.kept(spec)["process"] is process  # shared with the spec, not copied
    assert specs.kept({"root": {"path": "rootfs"}}) == {}


def test_the_digest_is_of_the_bytes_containerd_holds() -> None:
    spec = {"process": {"args": ["sh"]}, "hostname": "a"}
    packed = anycodec.pack_json(anycodec.OCI_SPEC_TYPE, spec)
    assert specs.digest(packed.value) == specs.digest_of(spec)
    # A spec rebuilt the same way (tuples where lists were) is no change.
    assert specs.digest_of({"process": {"args": ("sh",)}, "hostname": "a"}) == specs.digest_of(spec)
    assert specs.digest(jsonbytes.dumps(spec)) == specs.digest_of(spec)


def test_a_different_value_is_a_change() -> None:
    known = specs.digest_of({"process": {"args": ["sh"]}, "hostname": "a"})
    assert specs.digest_of({"process": {"args": ["sh"]}, "hostname": "b"}) != known
    assert specs.digest_of({"process": {"args": ["sh", "-c"]}, "hostname": "a"}) != known
    assert specs.digest_of({"process": {"args": ["sh"]}}) != known
