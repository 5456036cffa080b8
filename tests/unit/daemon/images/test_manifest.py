"""Manifest models, platform normalisation and picking a manifest from an index."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from daemon.images import mediatypes
from daemon.images.manifest import (
    Index,
    Manifest,
    ManifestError,
    NoMatchingManifestError,
    build_docker_manifest,
    parse_image_config,
    parse_manifest,
    select_manifest,
)
from daemon.images.platforms import (
    InvalidPlatformError,
    PlatformSpec,
    host_platform,
    normalize,
    parse_platform,
)

D1, D2, D3, D4 = ("sha256:" + c * 64 for c in "1234")


def _entry(
    digest: str, arch: str, variant: str | None = None, os: str = "linux"
) -> dict[str, object]:
    platform: dict[str, str] = {"architecture": arch, "os": os}
    if variant is not None:
        platform["variant"] = variant
    return {
        "mediaType": mediatypes.OCI_MANIFEST,
        "digest": digest,
        "size": 100,
        "platform": platform,
    }


def _index(*entries: dict[str, object]) -> Index:
    data = json.dumps(
        {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": list(entries)}
    ).encode()
    parsed = parse_manifest(data)
    assert isinstance(parsed, Index)
    return parsed


@pytest.mark.parametrize(
    ("os", "arch", "variant", "expected"),
    [
        ("linux", "x86_64", None, "linux/amd64"),
        ("Linux", "x86-64", "", "linux/amd64"),
        ("linux", "amd64", "v1", "linux/amd64"),
        ("linux", "aarch64", None, "linux/arm64/v8"),
        ("linux", "arm64", "8", "linux/arm64/v8"),
        ("linux", "arm64", "v8", "linux/arm64/v8"),
        ("linux", "armhf", None, "linux/arm/v7"),
        ("linux", "armel", None, "linux/arm/v6"),
        ("linux", "arm", None, "linux/arm/v7"),
        ("linux", "arm", "6", "linux/arm/v6"),
        ("linux", "i386", None, "linux/386"),
        ("macos", "arm64", None, "darwin/arm64/v8"),
    ],
)
def test_normalize(os: str, arch: str, variant: str | None, expected: str) -> None:
    assert str(normalize(os, arch, variant)) == expected


def test_parse_platform() -> None:
    assert parse_platform("linux/amd64") == PlatformSpec("linux", "amd64")
    assert parse_platform("linux/arm/v7") == PlatformSpec("linux", "arm", "v7")
    assert parse_platform("linux/aarch64") == PlatformSpec("linux", "arm64", "v8")
    assert parse_platform("arm64") == PlatformSpec("linux", "arm64", "v8")
    assert parse_platform("linux") == host_platform()
    assert parse_platform("windows").os == "windows"
    for bad in ("", "linux/amd64/v1/x", "foo", "linux/foo", "plan10/amd64", "linux/am d64"):
        with pytest.raises(InvalidPlatformError):
            parse_platform(bad)
    with pytest.raises(InvalidPlatformError, match='"foo": unknown operating system'):
        parse_platform("foo")


def test_host_platform_for_common_machines() -> None:
    with mock.patch("platform.machine", return_value="x86_64"):
        assert str(host_platform()) == "linux/amd64"
    with mock.patch("platform.machine", return_value="aarch64"):
        assert str(host_platform()) == "linux/arm64/v8"
    with mock.patch("platform.machine", return_value="armv7l"):
        assert str(host_platform()) == "linux/arm/v7"


def test_select_manifest_exact_and_normalised() -> None:
    index = _index(
        _entry(D1, "amd64"),
        _entry(D2, "arm64", "v8"),
        _entry(D3, "arm", "v7"),
        _entry(D4, "s390x"),
    )
    assert select_manifest(index, PlatformSpec("linux", "amd64")).digest == D1
    assert select_manifest(index, normalize("linux", "x86_64")).digest == D1
    # arm64 without a variant is arm64/v8, whichever side leaves it out.
    assert select_manifest(index, normalize("linux", "aarch64")).digest == D2
    assert select_manifest(index, parse_platform("linux/arm/v7")).digest == D3
    with mock.patch("platform.machine", return_value="x86_64"):
        assert select_manifest(index).digest == D1


def test_select_manifest_entry_without_variant_serves_arm64() -> None:
    index = _index(_entry(D1, "amd64"), _entry(D2, "arm64"))
    assert select_manifest(index, parse_platform("linux/arm64/v8")).digest == D2


def test_select_manifest_fallbacks_and_errors() -> None:
    index = _index(_entry(D1, "arm", "v6"), _entry(D2, "arm", "v5"))
    # An arm/v7 machine runs v6 code, the best of what is offered.
    assert select_manifest(index, parse_platform("linux/arm/v7")).digest == D1
    assert select_manifest(index, parse_platform("linux/arm64")).digest == D1
    with pytest.raises(NoMatchingManifestError) as caught:
        select_manifest(index, parse_platform("linux/amd64"))
    assert str(caught.value) == "no matching manifest for linux/amd64 in the manifest list entries"
    with pytest.raises(NoMatchingManifestError, match="linux/arm64/v8"):
        select_manifest(_index(_entry(D1, "amd64")), parse_platform("linux/arm64"))
    windows = _index(_entry(D1, "amd64", os="windows"))
    with pytest.raises(NoMatchingManifestError):
        select_manifest(windows, parse_platform("linux/amd64"))


def test_first_of_equal_entries_wins_and_entries_without_platform_are_skipped() -> None:
    no_platform = {"mediaType": mediatypes.OCI_MANIFEST, "digest": D3, "size": 1}
    index = _index(no_platform, _entry(D1, "amd64"), _entry(D2, "amd64"))
    assert select_manifest(index, parse_platform("linux/amd64")).digest == D1


def test_parse_docker_manifest_and_roundtrip() -> None:
    raw = {
        "schemaVersion": 2,
        "mediaType": mediatypes.DOCKER_MANIFEST,
        "config": {"mediaType": mediatypes.DOCKER_CONFIG, "size": 7, "digest": D1},
        "layers": [{"mediaType": mediatypes.DOCKER_LAYER_GZIP, "size": 9, "digest": D2}],
        "x-extra": {"kept": True},
    }
    parsed = parse_manifest(json.dumps(raw).encode(), mediatypes.DOCKER_MANIFEST)
    assert isinstance(parsed, Manifest)
    assert parsed.config.digest == D1
    assert parsed.layers[0].media_type == mediatypes.DOCKER_LAYER_GZIP
    assert json.loads(parsed.to_json()) == raw  # unknown fields survive


def test_parse_manifest_guesses_oci_kind_and_rejects_others() -> None:
    bare_index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    parsed = parse_manifest(bare_index)
    assert isinstance(parsed, Index)
    assert parsed.media_type == mediatypes.OCI_INDEX
    with pytest.raises(ManifestError, match="schema 1"):
        parse_manifest(b'{"schemaVersion": 1, "fsLayers": []}')
    with pytest.raises(ManifestError, match="not JSON"):
        parse_manifest(b"\x00garbage")
    with pytest.raises(ManifestError, match="invalid manifest"):
        parse_manifest(b'{"schemaVersion": 2, "config": {}}', mediatypes.OCI_MANIFEST)
    with pytest.raises(ManifestError, match="unsupported manifest media type"):
        parse_manifest(b'{"schemaVersion": 2}', "application/x-other")
    with pytest.raises(ManifestError, match="mismatch"):
        parse_manifest(
            json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX}).encode(),
            mediatypes.DOCKER_MANIFEST,
        )


def test_image_config_and_built_manifest() -> None:
    config = parse_image_config(
        json.dumps(
            {
                "architecture": "arm64",
                "os": "linux",
                "config": {"Env": ["A=1"], "Cmd": ["sh"]},
                "rootfs": {"type": "layers", "diff_ids": [D1]},
                "history": [{"created_by": "x", "empty_layer": True}],
            }
        ).encode()
    )
    assert config.rootfs.diff_ids == [D1]
    assert config.platform() == PlatformSpec("linux", "arm64", "v8")
    assert config.config == {"Env": ["A=1"], "Cmd": ["sh"]}
    with pytest.raises(ManifestError, match="rootfs"):
        parse_image_config(b'{"os": "linux"}')

    parsed = parse_manifest(
        build_docker_manifest(
            parse_manifest(
                json.dumps(
                    {
                        "schemaVersion": 2,
                        "config": {"mediaType": mediatypes.DOCKER_CONFIG, "size": 3, "digest": D1},
                        "layers": [],
                    }
                ).encode()
            ).config,  # type: ignore[union-attr]
            [],
        )
    )
    assert isinstance(parsed, Manifest)
    assert parsed.media_type == mediatypes.DOCKER_MANIFEST


def test_media_type_helpers() -> None:
    assert mediatypes.layer_compression(mediatypes.OCI_LAYER_GZIP) == "gzip"
    assert mediatypes.layer_compression(mediatypes.DOCKER_LAYER_GZIP) == "gzip"
    assert mediatypes.layer_compression(mediatypes.OCI_LAYER_ZSTD) == "zstd"
    assert mediatypes.layer_compression(mediatypes.OCI_LAYER) is None
    assert mediatypes.is_layer(mediatypes.DOCKER_FOREIGN_LAYER_GZIP)
    assert not mediatypes.is_layer(mediatypes.OCI_CONFIG)
    assert mediatypes.docker_layer_type(None) == mediatypes.DOCKER_LAYER
    assert mediatypes.is_index(mediatypes.DOCKER_MANIFEST_LIST)
