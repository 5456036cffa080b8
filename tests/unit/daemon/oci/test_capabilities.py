"""Capabilities: CapAdd/CapDrop, ALL, privileged, the daemon's bounding set."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.oci.capabilities import (
    CAPABILITY_NAMES,
    bounding_capabilities,
    caps_from_mask,
    container_capabilities,
    normalize_capabilities,
)
from daemon.oci.defaults import DEFAULT_CAPABILITIES
from daemon.oci.errors import SpecError

# This machine's CapBnd: every capability up to 40 but CAP_SYS_RESOURCE (bit 24).
NO_SYS_RESOURCE = 0x000001FFFEFFFFFF


def test_table_ends_with_checkpoint_restore() -> None:
    assert len(CAPABILITY_NAMES) == 41
    assert CAPABILITY_NAMES[40] == "CAP_CHECKPOINT_RESTORE"
    assert CAPABILITY_NAMES[24] == "CAP_SYS_RESOURCE"
    assert CAPABILITY_NAMES[21] == "CAP_SYS_ADMIN"


def test_mask_to_names() -> None:
    caps = caps_from_mask(NO_SYS_RESOURCE)
    assert "CAP_SYS_RESOURCE" not in caps
    assert len(caps) == 40
    assert caps_from_mask(0b101) == {"CAP_CHOWN", "CAP_DAC_READ_SEARCH"}


def test_bounding_from_status_file(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(f"Name:\tx\nCapEff:\t0000000000000000\nCapBnd:\t{NO_SYS_RESOURCE:016x}\n")
    assert bounding_capabilities(str(status)) == caps_from_mask(NO_SYS_RESOURCE)


def test_bounding_of_this_process() -> None:
    assert "CAP_CHOWN" in bounding_capabilities()


def test_defaults_untouched() -> None:
    assert container_capabilities(None, None) == DEFAULT_CAPABILITIES


def test_add_and_drop_with_or_without_prefix_any_case() -> None:
    caps = container_capabilities(["sys_admin", "CAP_NET_ADMIN"], ["chown", "Cap_Kill"])
    assert "CAP_SYS_ADMIN" in caps and "CAP_NET_ADMIN" in caps
    assert "CAP_CHOWN" not in caps and "CAP_KILL" not in caps
    assert caps[-2:] == ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]


def test_add_all_minus_drops() -> None:
    caps = container_capabilities(["ALL"], ["MKNOD"])
    assert len(caps) == 37 and "CAP_MKNOD" not in caps


def test_drop_all_keeps_only_adds() -> None:
    assert container_capabilities(["NET_RAW"], ["all"]) == ["CAP_NET_RAW"]


def test_privileged_gets_what_the_daemon_has() -> None:
    caps = container_capabilities(
        None, None, privileged=True, daemon_caps=caps_from_mask(NO_SYS_RESOURCE)
    )
    assert len(caps) == 37 and "CAP_SYS_RESOURCE" not in caps
    assert caps == [c for c in CAPABILITY_NAMES[:38] if c != "CAP_SYS_RESOURCE"]


def test_adding_a_capability_the_daemon_lacks_is_dropped() -> None:
    caps = container_capabilities(
        ["SYS_RESOURCE", "SYS_ADMIN"], None, daemon_caps=caps_from_mask(NO_SYS_RESOURCE)
    )
    assert "CAP_SYS_RESOURCE" not in caps and "CAP_SYS_ADMIN" in caps


def test_unknown_capability() -> None:
    with pytest.raises(SpecError, match=r'^invalid CapAdd: unknown capability: "CAP_FOO"$'):
        container_capabilities(["foo"], None)
    with pytest.raises(SpecError, match=r'^invalid CapDrop: unknown capability: "CAP_BAR"$'):
        normalize_capabilities(["CAP_BAR"], "CapDrop")


@pytest.mark.parametrize("name", ["BPF", "perfmon", "CAP_CHECKPOINT_RESTORE"])
def test_capabilities_newer_than_dockerd_20_10_are_unknown(name: str) -> None:
    # dockerd 20.10.24 answers 400 'invalid CapAdd: unknown capability: "CAP_BPF"' at create.
    known = "CAP_" + name.upper().removeprefix("CAP_")
    with pytest.raises(SpecError, match=f'^invalid CapAdd: unknown capability: "{known}"$'):
        normalize_capabilities([name], "CapAdd")
    with pytest.raises(SpecError, match=f'^invalid CapDrop: unknown capability: "{known}"$'):
        container_capabilities(["ALL"], [name])


def test_all_and_privileged_leave_out_what_dockerd_20_10_does_not_know() -> None:
    newer = {"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"}
    assert not newer & set(container_capabilities(["ALL"], None))
    assert not newer & set(container_capabilities(None, None, privileged=True))
