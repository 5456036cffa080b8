"""API versions: the ``/v1.NN/`` path prefix, its limits, and the headers every reply carries.

Routes are declared without the prefix. ``VersionedPaths`` is a catch-all
resource that strips ``/v<version>`` and resolves the rest against the same
router, so ``/v1.41/containers/json`` and ``/containers/json`` reach the same
handler. It works at routing time because aiohttp resolves the route before any
middleware runs; a middleware cannot re-route a request. The second pass goes
through ``api.route_table.RouteTable`` (aiohttp's order, by dictionary look-ups on
the path's segments) once the router is frozen, and through aiohttp's walk, with
what the resources read of a request (the method and the decoded path without the
prefix), when the table finds nothing.

``VersionedPaths.lookup`` is the first step of every request's routing
(``api.dispatch``): the table, for the path with or without its prefix; ``find``
adds aiohttp's walk for what the table leaves to it.

``check_version`` (called by ``api.dispatch`` for every request) then records the
version in ``request[API_VERSION]`` and refuses versions outside [minimum, current] with
dockerd's texts.
"""

import functools
from collections.abc import Iterator
from importlib import metadata
from typing import TYPE_CHECKING, cast

from aiohttp import web
from aiohttp.abc import AbstractMatchInfo
from aiohttp.web_urldispatcher import AbstractResource, AbstractRoute, UrlMappingMatchInfo
from yarl import URL

from api.route_table import RouteTable
from daemon.errors import InvalidParameter

# Re-exported: the routes and the server know versions from here.
from wire.api_versions import CURRENT_API_VERSION as CURRENT_API_VERSION
from wire.api_versions import MIN_API_VERSION as MIN_API_VERSION
from wire.api_versions import ApiVersion as ApiVersion

if TYPE_CHECKING:
    from aiohttp.web_urldispatcher import _InfoDict


# dockerd answers errors in JSON only to versions above 1.23; 1.23 and older get text/plain.
_LAST_TEXT_ERRORS_VERSION = ApiVersion(1, 23)

API_VERSION = web.RequestKey("api_version", ApiVersion)

# dockerd's router accepts any run of digits and dots after "/v".
_VERSION_CHARS = "0123456789."


def _moorage_version() -> str:
    try:
        return metadata.version("moorage")
    except metadata.PackageNotFoundError:
        # Running from a source tree that was never installed.
        return "0.1.0"


SERVER_SOFTWARE = f"moorage/{_moorage_version()} (linux)"


def api_version(request: web.Request) -> ApiVersion:
    """The API version the request was made with (current when unprefixed)."""
    if API_VERSION in request:
        return request[API_VERSION]
    return CURRENT_API_VERSION


def split_version_prefix(raw_path: str) -> tuple[str | None, str]:
    """``"/v1.41/containers/json"`` -> ``("1.41", "/containers/json")``.

    An unprefixed path gives ``(None, raw_path)``.
    """
    if not raw_path.startswith("/v"):
        return None, raw_path
    # Split by hand, not by a regex: this runs for every request (issue 13).
    end = raw_path.find("/", 2)
    version = raw_path[2:end] if end >= 0 else raw_path[2:]
    if not version or version.strip(_VERSION_CHARS):
        return None, raw_path
    return version, raw_path[end:] if end >= 0 else "/"


# Headers dockerd puts on every reply, hijacked streams included (made once: issue 13).
COMMON_HEADERS = {
    "Api-Version": str(CURRENT_API_VERSION),
    "Docker-Experimental": "false",
    "Ostype": "linux",
    "Server": SERVER_SOFTWARE,
}


class _PathOnly:
    __slots__ = ("path_safe",)

    def __init__(self, path_safe: str) -> None:
        self.path_safe = path_safe


class _Unversioned:
    """What the router's resources read of a request (its method and decoded path),
    for the path without its version prefix."""

    __slots__ = ("method", "rel_url")

    def __init__(self, method: str, path_safe: str) -> None:
        self.method = method
        self.rel_url = _PathOnly(path_safe)


class VersionedPaths(AbstractResource):
    """Catch-all resource that serves ``/v<version>/<path>`` as ``/<path>``."""

    def __init__(self, router: web.UrlDispatcher) -> None:
        super().__init__()
        self._router = router
        self._table: RouteTable | None = None  # made once the router is frozen

    @property
    def canonical(self) -> str:
        # Indexed under "/", the last candidate the router tries for any path.
        return "/"

    def url_for(self, **kwargs: str) -> URL:
        raise NotImplementedError("versioned paths are resolved, never built")

    async def resolve(self, request: web.Request) -> tuple[UrlMappingMatchInfo | None, set[str]]:
        if isinstance(request, _Unversioned):
            return None, set()  # one prefix only: "/v1.41/v1.41/x" is no route in dockerd either
        version = version_of(request)
        if version is None:
            return None, set()
        # The prefix is digits and dots, the same in the raw and the decoded path: the
        # router's second pass sees the decoded path without it (no request clone).
        rest = request.rel_url.path_safe[len(version) + 2 :] or "/"
        table = self._route_table()
        if table is not None:
            found = table.find(request.method, rest)
            if found is not None:
                return found, set()
        unversioned = _Unversioned(request.method, rest)
        # Not found that way (or the router still changes): aiohttp's own walk decides.
        match_info: AbstractMatchInfo = await self._router.resolve(cast(web.Request, unversioned))
        exc = match_info.http_exception
        if exc is None:
            assert isinstance(match_info, UrlMappingMatchInfo)
            return match_info, set()
        if isinstance(exc, web.HTTPMethodNotAllowed):
            return None, set(exc.allowed_methods)
        return None, set()

    def lookup(
        self, method: str, path_safe: str, version: str | None
    ) -> UrlMappingMatchInfo | None:
        """The route of `method` on `path_safe` (a request's decoded path, with the
        prefix of `version` if not None) through the table, or None: the table does not
        know the path (then ``find``)."""
        table = self._table or self._route_table()
        if table is None:
            return None
        if version is not None:
            path_safe = path_safe[len(version) + 2 :] or "/"
        return table.find(method, path_safe)

    async def find(self, request: web.BaseRequest, version: str | None) -> AbstractMatchInfo:
        """The route of `request` (whose path has the prefix of `version`, if not None):
        through the table when it knows the path, else the router's own walk (its 404s and
        405s, and the paths the table leaves to it). The request path's first step
        (``api.dispatch``), before aiohttp's walk: a versioned path reaches this resource
        only after the walk has tried every other resource."""
        found = self.lookup(request.method, request.rel_url.path_safe, version)
        if found is not None:
            return found
        return await self.walk(request)

    async def walk(self, request: web.BaseRequest) -> AbstractMatchInfo:
        """aiohttp's own walk of the router for `request` (this resource included)."""
        return await self._router.resolve(cast(web.Request, request))

    def _route_table(self) -> RouteTable | None:
        if self._table is None and self._router.frozen:
            self._table = RouteTable(
                r for r in self._router.resources() if not isinstance(r, VersionedPaths)
            )
        return self._table

    def add_prefix(self, prefix: str) -> None:
        raise NotImplementedError("versioned paths cannot live under a prefix")

    def get_info(self) -> "_InfoDict":
        return {"prefix": "/v{version}"}

    def raw_match(self, path: str) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[AbstractRoute]:
        return iter(())


def add_version_prefix(router: web.UrlDispatcher) -> VersionedPaths:
    """Make every route of ``router`` reachable under ``/v<version>/`` too."""
    paths = VersionedPaths(router)
    router.register_resource(paths)
    return paths


def version_of(request: web.BaseRequest) -> str | None:
    """The version in the request path's prefix, as written, or None."""
    raw_path = request.rel_url.raw_path
    return split_version_prefix(raw_path)[0] if raw_path.startswith("/v") else None


@functools.lru_cache(maxsize=64)
def _parse_version(text: str) -> ApiVersion:
    # The same few prefixes come with every request; a cache of a few keeps it bounded.
    return ApiVersion.parse(text)


def check_version(
    request: web.Request,
    text: str | None,
    min_version: ApiVersion = MIN_API_VERSION,
    max_version: ApiVersion = CURRENT_API_VERSION,
) -> web.Response | None:
    """Record the request's API version (`text`, from its path: ``version_of``) in
    ``request[API_VERSION]``; a version out of range is refused with dockerd's texts: a
    plain-text reply up to 1.23 (returned), else ``InvalidParameter`` (raised)."""
    if text is None:
        request[API_VERSION] = max_version
        return None
    version = request[API_VERSION] = _parse_version(text)
    if min_version <= version <= max_version:
        return None
    # Like dockerd, an unknown route stays a 404 whatever its version.
    if request.match_info.http_exception is not None:
        return None
    if version < min_version:
        message = (
            f"client version {text} is too old. Minimum supported API version "
            f"is {min_version}, please upgrade your client to a newer version"
        )
        if version <= _LAST_TEXT_ERRORS_VERSION:
            return web.Response(
                status=400,
                text=message + "\n",
                content_type="text/plain",
                headers={"X-Content-Type-Options": "nosniff"},
            )
        raise InvalidParameter(message)
    if version > max_version:
        raise InvalidParameter(
            f"client version {text} is too new. Maximum supported API version is {max_version}"
        )
    return None
