"""`POST /build`: the classic builder (see daemon/builder).

The context and the Dockerfile are checked before the reply starts, so a bad
one is an ordinary error reply (400) with dockerd's text; from then on the
reply is the builder's JSON stream, which ends with an error message if the
build fails. A client that goes away cancels the build.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from daemon import errors
from daemon.images import progress
from daemon.images.registry.auth import AuthConfig, auth_config_from_json
from daemon.images.service import parse_new_tag

from ..body import StreamedBody
from ..streams import ClientGone, StreamingReply
from ..versioning import ApiVersion, api_version
from .common import DAEMON, bool_param, int_param
from .images import IMAGES

if TYPE_CHECKING:
    # The builder (and pathspec, the Dockerfile parser...) is imported at the first build:
    # most daemons never build, and it was a twentieth of the start-up.
    from daemon.builder.build import BuildOptions

_PLATFORMS = ("", "linux", "linux/amd64", "linux/x86_64", "linux/amd64/v1")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/build", build)


def _json_param(request: web.Request, name: str) -> dict[str, Any]:
    raw = request.query.get(name, "")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise errors.InvalidParameter(f"invalid {name} parameter: {exc}") from None
    if not isinstance(value, dict):
        raise errors.InvalidParameter(f"invalid {name} parameter: not a JSON object")
    return value


def _registry_config(request: web.Request) -> dict[str, AuthConfig]:
    """`X-Registry-Config`: base64 JSON, registry -> credentials (for FROM pulls)."""
    header = request.headers.get("X-Registry-Config", "").strip()
    if not header:
        return {}
    text = header.replace("+", "-").replace("/", "_")
    text += "=" * (-len(text) % 4)
    try:
        document = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError):
        return {}  # dockerd ignores a header it cannot read
    if not isinstance(document, dict):
        return {}
    return {
        str(key): auth_config_from_json(value)
        for key, value in document.items()
        if isinstance(value, dict)
    }


def options_from(request: web.Request) -> BuildOptions:
    from daemon.builder.build import BuildOptions

    query = request.query
    platform = query.get("platform", "").lower()
    if platform not in _PLATFORMS:
        raise errors.InvalidParameter(
            f'"{query.get("platform")}": this daemon builds for linux/amd64 only'
        )
    if query.get("version", "1") not in ("", "1"):
        raise errors.InvalidParameter(
            "BuildKit is not supported by this daemon: build with DOCKER_BUILDKIT=0"
        )
    if query.get("remote", ""):
        raise errors.InvalidParameter("remote build contexts are not supported by this daemon")
    build_args = {
        str(k): (None if v is None else str(v))
        for k, v in _json_param(request, "buildargs").items()
    }
    labels = {str(k): str(v) for k, v in _json_param(request, "labels").items()}
    force_remove = bool_param(request, "forcerm")
    remove = bool_param(request, "rm") if query.get("rm", "") else True
    return BuildOptions(
        tags=query.getall("t", []),
        build_args=build_args,
        labels=labels,
        target=query.get("target", ""),
        nocache=bool_param(request, "nocache"),
        pull=bool_param(request, "pull"),
        remove=remove or force_remove,
        force_remove=force_remove,
        quiet=bool_param(request, "q"),
        host_config=_host_config(request),
        auths=_registry_config(request),
        aux=api_version(request) >= ApiVersion(1, 31),
    )


# The build's resource parameters and the HostConfig field each sets.
_RESOURCES = {
    "memory": "Memory",
    "memswap": "MemorySwap",
    "cpushares": "CpuShares",
    "cpuperiod": "CpuPeriod",
    "cpuquota": "CpuQuota",
    "shmsize": "ShmSize",
}


def _host_config(request: web.Request) -> dict[str, Any]:
    """What the step containers get of the build's network and resource parameters."""
    query = request.query
    found: dict[str, Any] = {}
    if query.get("networkmode", ""):
        found["NetworkMode"] = query["networkmode"]
    for name, key in _RESOURCES.items():
        value = int_param(request, name, None)
        if value:
            found[key] = value
    for name, key in (("cpusetcpus", "CpusetCpus"), ("cpusetmems", "CpusetMems")):
        if query.get(name, ""):
            found[key] = query[name]
    if query.get("cgroupparent", ""):
        found["CgroupParent"] = query["cgroupparent"]
    hosts = [h for raw in query.getall("extrahosts", []) for h in raw.split(",") if h]
    if hosts:
        found["ExtraHosts"] = hosts
    raw_ulimits = query.get("ulimits", "")
    if raw_ulimits:
        try:
            ulimits = json.loads(raw_ulimits)
        except ValueError as exc:
            raise errors.InvalidParameter(f"invalid ulimits parameter: {exc}") from None
        if ulimits:
            found["Ulimits"] = ulimits
    return found


async def build(request: web.Request) -> web.StreamResponse:
    from daemon.builder.service import start_build

    options = options_from(request)
    for tag in options.tags:
        _check_tag(tag)
    started = await start_build(
        request.app[DAEMON],
        request.app[IMAGES],
        StreamedBody(request),
        request.query.get("dockerfile", ""),
        options,
    )
    messages = started.messages()
    reply = StreamingReply(request)
    try:
        await reply.start()
        async for message in messages:
            await reply.write(progress.encode(message))
    except ClientGone:
        raise  # the finally below cancels the build
    finally:
        await messages.aclose()  # type: ignore[attr-defined]
        started.discard()  # a stream never read leaves its context behind otherwise
    return await reply.finish()


def _check_tag(tag: str) -> None:
    parse_new_tag(tag, "")
