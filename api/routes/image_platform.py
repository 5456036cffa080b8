"""The JSON-encoded OCI platform parameters of the image endpoints (API 1.46 to 1.52).

moorage's image store keeps one platform per image, like dockerd's graphdriver
store: a named platform is checked against the image's own, and asking for several
is refused with that store's texts.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from daemon import errors
from daemon.images.image import Image
from daemon.images.reference import familiar_string
from wire.api_versions import (
    IMAGE_PLATFORM_DELETE,
    IMAGE_PLATFORM_SAVE,
    MULTI_PLATFORM_PARAMS,
    Change,
)

from ..versioning import api_version

Platform = dict[str, Any]

_TOO_MANY = {
    IMAGE_PLATFORM_SAVE.key: "multiple platforms not supported for this image store; "
    "use a multi-platform image store such as containerd-snapshotter",
    IMAGE_PLATFORM_DELETE.key: "multiple platforms are not supported",
}


def decode_platform(text: str) -> Platform:
    """One ``platform`` value, as dockerd's DecodePlatform reads it."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise errors.InvalidParameter(f"failed to parse platform: {exc}") from None
    if not isinstance(value, dict):
        raise errors.InvalidParameter(
            "failed to parse platform: json: cannot unmarshal into Go value of type v1.Platform"
        )
    os_, arch = str(value.get("os") or ""), str(value.get("architecture") or "")
    optional = value.get("variant") or value.get("os.version") or value.get("os.features")
    if not os_ and not arch and optional:
        raise errors.InvalidParameter(
            "optional platform fields provided, but OS and Architecture are missing"
        )
    if not os_ or not arch:
        raise errors.InvalidParameter("both OS and Architecture must be provided")
    return value


def platform_params(
    request: web.Request, change: Change, param: str = "platform"
) -> list[Platform]:
    """The platforms the request names; none before `change`'s version, which ignored them."""
    version = api_version(request)
    if not change.applies(version):
        return []
    raw = request.query.getall(param, [])
    if len(raw) > 1:
        if change is IMAGE_PLATFORM_SAVE and not MULTI_PLATFORM_PARAMS.applies(version):
            raise errors.InvalidParameter(
                "multiple platform parameters are not supported in this API version; "
                "use API version 1.52 or later"
            )
        raise errors.InvalidParameter(
            _TOO_MANY.get(change.key, "multiple platforms is not supported")
        )
    return [decode_platform(text) for text in raw]


def _format(os_: str, arch: str, variant: str) -> str:
    return "/".join(p for p in (os_, arch, variant) if p)


def check_platform(name: str, image: Image, wanted: list[Platform]) -> None:
    """dockerd's 404 when the one stored platform of `image` is not the one asked for."""
    for platform in wanted:
        os_, arch = str(platform.get("os")), str(platform.get("architecture"))
        variant = str(platform.get("variant") or "")
        if (os_, arch) == (image.os, image.architecture) and (
            not variant or not image.variant or variant == image.variant
        ):
            continue
        try:
            shown = familiar_string(name)
        except Exception:  # an ID or digest: shown as given
            shown = name
        raise errors.NotFound(
            f"image with reference {shown} was found but its platform "
            f"({_format(image.os, image.architecture, image.variant)}) does not match the "
            f"specified platform ({_format(os_, arch, variant)})"
        )
