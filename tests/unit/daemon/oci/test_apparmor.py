"""Which AppArmor profile a container gets, and the profile's text."""

from __future__ import annotations

from daemon.oci.apparmor import DEFAULT_PROFILE, container_profile, profile_text


def test_the_default_profile_unless_unconfined_privileged_or_named() -> None:
    assert container_profile("", privileged=False, host_has_apparmor=True) == DEFAULT_PROFILE
    assert container_profile("", privileged=True, host_has_apparmor=True) == ""
    assert container_profile("unconfined", privileged=False, host_has_apparmor=True) == ""
    assert container_profile("mine", privileged=True, host_has_apparmor=True) == "mine"


def test_no_profile_on_a_host_without_apparmor() -> None:
    assert container_profile("", privileged=False, host_has_apparmor=False) == ""
    assert container_profile("mine", privileged=False, host_has_apparmor=False) == ""


def test_profile_text_names_itself_and_its_ptrace_peer() -> None:
    text = profile_text("custom")
    assert text.startswith("profile custom flags=")
    assert "peer=custom," in text
    assert text.count("{") == text.count("}")
