"""The image cache's answers follow every change to the records and layer sizes (it
keeps the Image it made for an ID until one)."""

from __future__ import annotations

from daemon.images.cache import ImageCache
from daemon.images.image import ImageContent
from libcontainerd.types import Descriptor, ImageRecord

_MANIFEST = Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "a" * 64, 10)
_LAYER = Descriptor("application/vnd.oci.image.layer.v1.tar", "sha256:" + "b" * 64, 100)
_CONTENT = ImageContent(
    target=_MANIFEST,
    manifest=_MANIFEST,
    manifest_bytes=b"{}",
    config_digest="sha256:" + "c" * 64,
    config_bytes=b"{}",
    config={},
    layers=(_LAYER,),
    diff_ids=("sha256:" + "d" * 64,),
    chain_ids=("sha256:" + "d" * 64,),
)


def _cache() -> ImageCache:
    cache = ImageCache()
    cache.put_content(_CONTENT)
    cache.put_record(ImageRecord("docker.io/library/app:one", _MANIFEST))
    return cache


def test_a_tag_added_or_dropped_shows_at_the_next_resolve() -> None:
    cache = _cache()
    assert cache.resolve("app:one").repo_tags == ("app:one",)
    assert cache.resolve("app:one") is cache.resolve(_CONTENT.id)  # made once
    cache.put_record(ImageRecord("docker.io/library/app:two", _MANIFEST))
    assert cache.resolve("app:one").repo_tags == ("app:one", "app:two")
    cache.drop_record("docker.io/library/app:one")
    assert cache.resolve(_CONTENT.id).repo_tags == ("app:two",)


def test_a_layer_size_learnt_later_shows_at_the_next_resolve() -> None:
    cache = _cache()
    assert cache.resolve("app:one").size == 100  # the blob's, until the unpacked size is known
    cache.put_layer_sizes([(_CONTENT.chain_ids[0], 250)])
    assert cache.resolve("app:one").size == 250
