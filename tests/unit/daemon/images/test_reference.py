"""Reference parsing and display, checked against what the docker CLI and dockerd do."""

from __future__ import annotations

import pytest

from daemon.images.reference import (
    InvalidReferenceError,
    Reference,
    familiar_string,
    image_id_prefix,
    parse_any_reference,
    parse_docker_ref,
    parse_image_id,
    parse_normalized_named,
    reference_with_tag_param,
    short_id,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("user/repo", "docker.io/user/repo:latest", "user/repo:latest"),
        ("user/repo:v2", "docker.io/user/repo:v2", "user/repo:v2"),
        ("localhost:5000/x:tag", "localhost:5000/x:tag", "localhost:5000/x:tag"),
        ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
        ("quay.io/org/sub/img", "quay.io/org/sub/img:latest", "quay.io/org/sub/img:latest"),
        ("docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"),
        ("127.0.0.1:5000/a_b.c-d__e", "127.0.0.1:5000/a_b.c-d__e:latest", None),
        (f"host.test/x@{DIGEST}", f"host.test/x@{DIGEST}", f"host.test/x@{DIGEST}"),
        # Without a dot, a colon or "localhost", the first component is a Hub user.
        (f"host/x@{DIGEST}", f"docker.io/host/x@{DIGEST}", f"host/x@{DIGEST}"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}"),
        (
            f"busybox:1.36@{DIGEST}",
            f"docker.io/library/busybox:1.36@{DIGEST}",
            f"busybox:1.36@{DIGEST}",
        ),
        ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
    ],
)
def test_normalises_like_docker(text: str, full: str, familiar: str | None) -> None:
    ref = parse_docker_ref(text)
    assert str(ref) == full
    if familiar is not None:
        assert ref.familiar() == familiar
        assert familiar_string(full) == familiar


def test_parts_of_a_reference() -> None:
    ref = parse_normalized_named(f"localhost:5000/team/app:v1@{DIGEST}")
    assert ref == Reference("localhost:5000", "team/app", "v1", DIGEST)
    assert ref.name == "localhost:5000/team/app"
    assert ref.familiar_name == "localhost:5000/team/app"
    assert str(ref.trimmed()) == "localhost:5000/team/app"
    assert parse_normalized_named("busybox").is_name_only
    assert parse_normalized_named("busybox").tag is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Busybox", "invalid reference format: repository name must be lowercase"),
        ("user/Repo:tag", "invalid reference format: repository name must be lowercase"),
        ("localhost:5000/X", "invalid reference format: repository name must be lowercase"),
        ("", "invalid reference format"),
        ("busybox:", "invalid reference format"),
        ("busy box", "invalid reference format"),
        ("busybox:a:b", "invalid reference format"),
        ("-busybox", "invalid reference format"),
        ("busybox..x", "invalid reference format"),
        ("busybox:" + "t" * 129, "invalid reference format"),
        ("busybox@sha256:abc", "invalid reference format"),
        ("busybox@sha256:" + "AB" * 32, "invalid checksum digest format"),
        ("busybox@md5:" + "ab" * 32, "unsupported digest algorithm"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
        ("x/" + "a" * 260, "repository name must not be more than 255 characters"),
    ],
)
def test_rejects_invalid_references(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError) as caught:
        parse_normalized_named(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_tag_parameter_of_the_api() -> None:
    base = parse_normalized_named("docker.io/library/busybox")
    assert str(reference_with_tag_param(base, "1.36")) == "docker.io/library/busybox:1.36"
    assert str(reference_with_tag_param(base, DIGEST)) == f"docker.io/library/busybox@{DIGEST}"
    assert reference_with_tag_param(base, "") == base
    with pytest.raises(InvalidReferenceError, match="invalid tag format"):
        reference_with_tag_param(base, "bad tag")
    with pytest.raises(InvalidReferenceError, match="invalid tag format"):
        base.with_tag(".x")


def test_image_ids() -> None:
    hex64 = "3f" * 32
    assert parse_image_id(hex64) == f"sha256:{hex64}"
    assert parse_image_id(f"sha256:{hex64}") == f"sha256:{hex64}"
    assert parse_image_id(hex64[:12]) is None
    assert parse_image_id("busybox") is None
    assert parse_any_reference(hex64) == f"sha256:{hex64}"
    assert parse_any_reference(f"sha256:{hex64}") == f"sha256:{hex64}"
    assert parse_any_reference("busybox") == parse_normalized_named("busybox")
    assert image_id_prefix("3f3f") == "3f3f"
    assert image_id_prefix("sha256:3f3f") == "3f3f"
    assert image_id_prefix("busybox") is None
    assert image_id_prefix("3F3F") is None
    assert image_id_prefix("a" * 65) is None
    assert short_id(f"sha256:{hex64}") == hex64[:12]
    assert short_id(hex64) == hex64[:12]
