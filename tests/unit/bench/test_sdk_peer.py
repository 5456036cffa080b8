"""The SDK peer suite's own logic: reading pytest's junit report, comparing the engines,
and the stand-in test image (bench/sdk_peer.py)."""

from __future__ import annotations

import tarfile
from pathlib import Path

from bench.sdk_peer import (
    EngineResult,
    Outcome,
    alpine_like_entries,
    parse_junit,
    regressions,
    write_test_image,
)
from tests.support.images import File, Symlink

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="docker-py">
<testcase classname="tests.integration.api_exec_test.ExecTest" name="test_ok" time="0.5"/>
<testcase classname="tests.integration.api_exec_test.ExecTest" name="test_bad" time="1.2">
<failure message="AssertionError">tests/integration/api_exec_test.py:228: in test_bad
    helper()
tests/helpers.py:151: in assert_cat_socket_detached_with_keys
    assert data == b''
E   AssertionError</failure></testcase>
<testcase classname="tests.integration.client_test.ClientTest" name="test_skip" time="0">
<skipped message="API version is too low (&lt; 1.45)"/></testcase>
<testcase classname="tests.integration.base_test.T" name="test_both" time="60.1">
<failure message="Failed: Timeout (&gt;60.0s) from pytest-timeout.">x</failure>
<error message="error in teardown">y</error></testcase>
</testsuite></testsuites>
"""


def test_parse_junit_ids_statuses_and_first_lines(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(JUNIT)
    outcomes = parse_junit(report)
    assert {test_id: o.status for test_id, o in outcomes.items()} == {
        "api_exec_test.py::ExecTest::test_ok": "passed",
        "api_exec_test.py::ExecTest::test_bad": "failed",
        "client_test.py::ClientTest::test_skip": "skipped",
        # A failure in the test is what it is reported as, not its teardown's error.
        "base_test.py::T::test_both": "failed",
    }
    bad = outcomes["api_exec_test.py::ExecTest::test_bad"]
    # A bare assertion names the last frame of the tests' own code it failed in.
    assert bad.message == (
        "AssertionError [tests/helpers.py:151 in assert_cat_socket_detached_with_keys]"
    )
    assert bad.seconds == 1.2
    assert outcomes["client_test.py::ClientTest::test_skip"].message == (
        "API version is too low (< 1.45)"
    )


def test_regressions_are_dockerd_passes_that_moorage_does_not_pass() -> None:
    def result(name: str, statuses: dict[str, str]) -> EngineResult:
        outcomes = {t: Outcome(t, s, f"{s} msg") for t, s in statuses.items()}
        return EngineResult(name, outcomes=outcomes)

    dockerd = result("dockerd", {"a": "passed", "b": "passed", "c": "failed", "d": "passed"})
    moorage = result("moorage", {"a": "passed", "b": "failed", "c": "passed"})
    lost = regressions([moorage, dockerd])
    assert [(test_id, o.status if o else None) for test_id, o in lost] == [
        ("b", "failed"),
        ("d", None),  # not run on moorage at all
    ]
    assert regressions([dockerd]) == []


def test_test_image_is_alpine_named_busybox_with_alpine_users(tmp_path: Path) -> None:
    entries = {entry.path: entry for entry in alpine_like_entries()}
    # Applets the SDK tests call, at busybox's own paths, and directories they use.
    for applet in ("bin/sh", "usr/bin/whoami", "usr/bin/top", "bin/sleep", "usr/bin/env"):
        assert entries[applet] == Symlink(applet, "/bin/busybox")
    assert "var/opt" in entries
    passwd = entries["etc/passwd"]
    assert isinstance(passwd, File)
    assert b"\npostgres:x:70:70:" in passwd.data

    archive = tmp_path / "alpine.tar"
    image_id = write_test_image(archive)
    with tarfile.open(archive) as tar:
        manifest = tar.extractfile("manifest.json")
        assert manifest is not None
        text = manifest.read().decode()
    assert '"RepoTags":["alpine:3.10","alpine:latest"]' in text
    assert image_id == write_test_image(tmp_path / "again.tar")  # deterministic
