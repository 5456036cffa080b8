"""The registry HTTP API v2 client: manifests and blobs, down and up.

One client talks to one registry domain. The first request pings `/v2/` on
the domain's endpoints in order (mirrors, TLS, then plain HTTP for insecure
registries) and keeps the first that answers like a registry, together with
its auth challenge, so later requests carry credentials from the start.

Everything that arrives is checked against its digest and size before it is
reported complete; every wait on the network is bounded by the timeouts, so a
registry that stops answering fails the operation instead of hanging it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from daemon.images import mediatypes
from daemon.images.compression import file_chunks
from daemon.images.manifest import MAX_MANIFEST_SIZE, Descriptor, Index, Manifest, parse_manifest
from daemon.images.registry import cabundle
from daemon.images.registry.auth import AuthConfig, Authenticator, repository_scope
from daemon.images.registry.endpoints import (
    Endpoint,
    RegistryConfig,
    endpoints_for,
    normalize_domain,
)
from daemon.images.registry.errors import (
    DigestMismatchError,
    RegistryConnectionError,
    RegistryError,
    RegistryNotFoundError,
    RegistryTimeoutError,
    error_for_status,
)
from libcontainerd.digests import sha256_digest

CHUNK_SIZE = 1024 * 1024
UPLOAD_CHUNK_SIZE = 8 * 1024 * 1024
USER_AGENT = "moorage"
_ERROR_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Network time limits in seconds; a registry silent for longer fails the operation."""

    connect: float = 30.0  # TCP connect and TLS handshake
    read_idle: float = 60.0  # waiting for response headers, or for the next body bytes


@dataclass(frozen=True)
class FetchedManifest:
    media_type: str
    digest: str
    data: bytes

    def parse(self) -> Manifest | Index:
        return parse_manifest(self.data, self.media_type)

    def descriptor(self) -> Descriptor:
        return Descriptor(mediaType=self.media_type, digest=self.digest, size=len(self.data))


class PushOutcome(Enum):
    EXISTS = "exists"  # the repository had it already: "Layer already exists"
    MOUNTED = "mounted"  # linked from another repository: "Mounted from ..."
    PUSHED = "pushed"  # uploaded: "Pushed"


class RegistryClient:
    """Use as `async with RegistryClient("docker.io", ...) as client:`."""

    def __init__(
        self,
        domain: str,
        *,
        config: RegistryConfig | None = None,
        credentials: AuthConfig | None = None,
        timeouts: Timeouts | None = None,
        session: aiohttp.ClientSession | None = None,
        push: bool = False,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.domain = normalize_domain(domain)
        self._endpoints = endpoints_for(self.domain, config or RegistryConfig(), push=push)
        self._endpoint: Endpoint | None = None
        self._credentials = credentials
        self._timeouts = timeouts or Timeouts()
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._timeouts.connect, sock_read=self._timeouts.read_idle
        )
        self._given_session = session
        self._session: aiohttp.ClientSession | None = session
        self._auth: Authenticator | None = None
        self._user_agent = user_agent

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._given_session is None:
            await self._session.close()
        self._session = None

    @property
    def endpoint(self) -> Endpoint | None:
        """The endpoint in use, once `ping` found one."""
        return self._endpoint

    @property
    def authenticator(self) -> Authenticator:
        if self._auth is None:
            self._auth = Authenticator(self._http(), self._credentials, self._timeout)
        return self._auth

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": self._user_agent})
        return self._session

    # endpoint and requests ---------------------------------------------------------

    async def ping(self) -> Endpoint:
        """Finds the endpoint to use and learns its auth challenge (`GET /v2/`)."""
        if self._endpoint is not None:
            return self._endpoint
        await cabundle.ready()  # every request comes through here first
        last: RegistryError | None = None
        for endpoint in self._endpoints:
            url = f"{endpoint.base_url}/v2/"
            try:
                async with self._http().get(
                    url, ssl=self._ssl(endpoint), timeout=self._timeout
                ) as response:
                    await response.read()
                    if response.status == 401:
                        self.authenticator.learn(response.headers.get("WWW-Authenticate"))
                    elif response.status != 200:
                        last = RegistryError(
                            f'Get "{url}": not a registry (status {response.status} '
                            f"{response.reason})",
                            status=response.status,
                        )
                        continue
                    self._endpoint = endpoint
                    return endpoint
            except TimeoutError as exc:
                last = self._timeout_error("GET", url, exc)
            except aiohttp.ClientError as exc:
                last = RegistryConnectionError(f'Get "{url}": {_describe(exc)}')
        assert last is not None
        raise last

    async def check_access(self) -> None:
        """`GET /v2/` with the credentials: passes when the registry lets them in."""
        response = await self._send("GET", "/v2/", scopes=(), expect={200})
        response.release()

    async def _send(
        self,
        method: str,
        path_or_url: str,
        *,
        scopes: Iterable[str],
        expect: Collection[int],
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """Sends a request with credentials; returns the open response when its status is
        expected, raises the registry's error otherwise. One 401 is answered by fetching a
        fresh token (with the scope the challenge names) and trying again."""
        endpoint = await self.ping()
        url = _absolute(endpoint, path_or_url)
        if params:
            url = url.update_query(params)
        wanted = set(scopes)
        for attempt in range(2):
            request_headers = dict(headers or {})
            authorization = await self.authenticator.header(wanted, refresh=attempt > 0)
            if authorization:
                request_headers["Authorization"] = authorization
            try:
                response = await self._http().request(
                    method,
                    url,
                    headers=request_headers,
                    data=data,
                    ssl=self._ssl(endpoint),
                    timeout=self._timeout,
                )
            except TimeoutError as exc:
                raise self._timeout_error(method, str(url), exc) from None
            except aiohttp.ClientError as exc:
                raise RegistryConnectionError(
                    f'{method.capitalize()} "{url}": {_describe(exc)}'
                ) from None
            if response.status in expect:
                return response
            body = await _read_error_body(response)
            if response.status == 401 and attempt == 0:
                challenge = self.authenticator.learn(response.headers.get("WWW-Authenticate"))
                if challenge is not None:
                    if "scope" in challenge.params:
                        wanted.update(challenge.params["scope"].split(" "))
                    continue
            raise error_for_status(
                response.status, response.reason or "", body, method=method, url=str(url)
            )
        raise AssertionError("unreachable")

    def _timeout_error(self, method: str, url: str, exc: BaseException) -> RegistryTimeoutError:
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            detail = f"could not connect within {self._timeouts.connect:g}s"
        else:
            detail = f"the registry sent nothing for {self._timeouts.read_idle:g}s"
        return RegistryTimeoutError(f'{method.capitalize()} "{url}": timeout: {detail}')

    @staticmethod
    def _ssl(endpoint: Endpoint) -> bool:
        return endpoint.verify_tls if endpoint.is_tls else True

    # manifests -----------------------------------------------------------------------

    async def get_manifest(
        self,
        repository: str,
        reference: str,
        *,
        accept: Iterable[str] = mediatypes.MANIFEST_ACCEPT,
    ) -> FetchedManifest:
        """A manifest or index by tag or digest, checked against the digest it is known by."""
        response = await self._send(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            scopes=[repository_scope(repository, "pull")],
            headers={"Accept": ", ".join(accept)},
            expect={200},
        )
        async with response:
            data = await self._read_body(response, MAX_MANIFEST_SIZE, "manifest")
            header_digest = response.headers.get("Docker-Content-Digest")
            content_type = response.content_type
        media_type = content_type if _is_manifest_type(content_type) else None
        if media_type is None:
            parsed = parse_manifest(data)
            media_type = parsed.media_type or mediatypes.OCI_MANIFEST
        expected = reference if ":" in reference else header_digest
        digest = _digest_as(data, expected)
        if expected is not None and digest != expected:
            raise DigestMismatchError(
                f"manifest {repository}:{reference} has digest {digest}, "
                f"but the registry says {expected}"
            )
        return FetchedManifest(media_type=media_type, digest=digest, data=data)

    async def head_manifest(self, repository: str, reference: str) -> Descriptor | None:
        """The manifest's descriptor without its body, or None when the registry has none."""
        try:
            response = await self._send(
                "HEAD",
                f"/v2/{repository}/manifests/{reference}",
                scopes=[repository_scope(repository, "pull")],
                headers={"Accept": ", ".join(mediatypes.MANIFEST_ACCEPT)},
                expect={200},
            )
        except RegistryNotFoundError:
            return None
        async with response:
            digest = response.headers.get("Docker-Content-Digest", "")
            size = int(response.headers.get("Content-Length", "0"))
            media_type = response.content_type
        if not digest:
            return None  # without a digest a HEAD says nothing; callers fall back to GET
        return Descriptor(mediaType=media_type, digest=digest, size=size)

    async def put_manifest(
        self, repository: str, reference: str, data: bytes, media_type: str
    ) -> str:
        """Uploads a manifest or index under a tag (or its digest); returns its digest."""
        digest = sha256_digest(data)
        response = await self._send(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            scopes=[repository_scope(repository, "pull", "push")],
            headers={"Content-Type": media_type},
            data=data,
            expect={200, 201, 202},
        )
        async with response:
            answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != digest:
            raise DigestMismatchError(
                f"registry stored manifest {repository}:{reference} as {answered}, sent {digest}"
            )
        return digest

    # blobs down ----------------------------------------------------------------------

    async def blob_exists(self, repository: str, digest: str) -> int | None:
        """The blob's size when the repository has it, else None."""
        try:
            response = await self._send(
                "HEAD",
                f"/v2/{repository}/blobs/{digest}",
                scopes=[repository_scope(repository, "pull")],
                expect={200},
            )
        except RegistryNotFoundError:
            return None
        async with response:
            return int(response.headers.get("Content-Length", "0"))

    async def fetch_blob(
        self,
        repository: str,
        digest: str,
        size: int | None = None,
        *,
        offset: int = 0,
        prefix_hasher: Any = None,
        verify: bool = True,
    ) -> AsyncIterator[bytes]:
        """The blob's bytes from `offset`, verified when the last chunk has arrived.

        The digest and size are checked at the end, so a consumer must treat what it
        received as final only once the iteration completes without an error. To resume,
        pass `offset` and a hasher already fed with the first `offset` bytes, or
        `verify=False` when the consumer checks the digest itself (containerd's content
        store does, at commit, over the whole blob): then only the size is checked.
        """
        algorithm = digest.split(":", 1)[0]
        hasher = prefix_hasher if prefix_hasher is not None else hashlib.new(algorithm)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = await self._send(
            "GET",
            f"/v2/{repository}/blobs/{digest}",
            scopes=[repository_scope(repository, "pull")],
            headers=headers,
            expect={200, 206},
        )
        url = str(response.url)
        received = offset
        # A server that ignores Range sends everything: drop what is already here.
        skip = offset if (offset and response.status == 200) else 0
        async with response:
            async for chunk in _body_chunks(response, self, url):
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                    if not chunk:
                        continue
                received += len(chunk)
                if size is not None and received > size:
                    raise DigestMismatchError(
                        f"blob {digest} from {repository}: the registry sent more than {size} bytes"
                    )
                hasher.update(chunk)
                yield chunk
        if size is not None and received != size:
            raise DigestMismatchError(
                f"blob {digest} from {repository}: the registry sent {received} bytes, "
                f"expected {size}"
            )
        actual = f"{algorithm}:{hasher.hexdigest()}"
        if verify and actual != digest:
            raise DigestMismatchError(
                f"blob {digest} from {repository} failed verification: "
                f"its content has digest {actual}"
            )

    async def download_blob(
        self,
        repository: str,
        desc: Descriptor,
        dest: Path,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Downloads a blob to `dest`, resuming from a partial file left by an earlier try.

        A complete, verified file is left in place; on a digest mismatch the file is
        removed (it cannot be resumed), on any other error the partial file stays.
        """
        algorithm = desc.digest.split(":", 1)[0]
        hasher = hashlib.new(algorithm)
        offset = _file_size(dest)
        if offset > desc.size:
            offset = 0
        elif offset:
            async for piece in file_chunks(dest):
                hasher.update(piece)
            if offset == desc.size:
                if f"{algorithm}:{hasher.hexdigest()}" == desc.digest:
                    if progress is not None:
                        progress(offset)
                    return
                offset, hasher = 0, hashlib.new(algorithm)
        try:
            with open(dest, "r+b" if offset else "wb") as out:  # noqa: ASYNC230
                out.seek(offset)
                out.truncate(offset)
                done = offset
                async for chunk in self.fetch_blob(
                    repository, desc.digest, desc.size, offset=offset, prefix_hasher=hasher
                ):
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done)
        except DigestMismatchError:
            _remove(dest)
            raise

    # blobs up ------------------------------------------------------------------------

    async def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Links a blob from another repository of this registry; False when it cannot."""
        mounted, location = await self._start_upload(repository, digest, from_repository)
        if location is not None:
            await self._cancel_upload(repository, location)
        return mounted

    async def push_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        open_content: Callable[[], AsyncIterable[bytes]],
        *,
        mount_from: Iterable[str] = (),
        chunk_size: int = UPLOAD_CHUNK_SIZE,
    ) -> PushOutcome:
        """Makes sure the repository has the blob: already there, mounted, or uploaded."""
        if await self.blob_exists(repository, digest) is not None:
            return PushOutcome.EXISTS
        location: str | None = None
        for source in mount_from:
            if source == repository:
                continue
            mounted, location = await self._start_upload(repository, digest, source)
            if mounted:
                return PushOutcome.MOUNTED
            break  # the session a refused mount opened serves the upload below
        await self.upload_blob(
            repository, digest, size, open_content(), chunk_size=chunk_size, location=location
        )
        return PushOutcome.PUSHED

    async def upload_blob(
        self,
        repository: str,
        digest: str,
        size: int,
        content: AsyncIterable[bytes],
        *,
        chunk_size: int = UPLOAD_CHUNK_SIZE,
        location: str | None = None,
    ) -> None:
        """Chunked upload: POST for a session, PATCH per chunk, PUT `?digest=` to finish."""
        if location is None:
            _, location = await self._start_upload(repository)
            assert location is not None
        scopes = [repository_scope(repository, "pull", "push")]
        hasher = hashlib.new(digest.split(":", 1)[0])
        offset = 0
        buffer = bytearray()
        try:
            async for piece in content:
                hasher.update(piece)
                buffer += piece
                while len(buffer) >= chunk_size:
                    location = await self._patch(
                        location, scopes, bytes(buffer[:chunk_size]), offset
                    )
                    offset += chunk_size
                    del buffer[:chunk_size]
            if buffer:
                location = await self._patch(location, scopes, bytes(buffer), offset)
                offset += len(buffer)
            actual = f"{digest.split(':', 1)[0]}:{hasher.hexdigest()}"
            if offset != size or actual != digest:
                raise DigestMismatchError(
                    f"blob {digest} for {repository}: the content read has digest {actual} "
                    f"and {offset} bytes, expected {size}"
                )
        except BaseException:
            await self._cancel_upload(repository, location)
            raise
        finish = URL(location, encoded=True).update_query(digest=digest)
        response = await self._send(
            "PUT",
            str(finish),
            scopes=scopes,
            headers={"Content-Length": "0"},
            data=b"",
            expect={201, 204},
        )
        response.release()

    async def _start_upload(
        self, repository: str, digest: str | None = None, from_repository: str | None = None
    ) -> tuple[bool, str | None]:
        """POSTs for an upload session (or a mount). Returns (mounted, session location)."""
        scopes = [repository_scope(repository, "pull", "push")]
        params: dict[str, str] | None = None
        if digest is not None and from_repository is not None:
            scopes.append(repository_scope(from_repository, "pull"))
            params = {"mount": digest, "from": from_repository}
        response = await self._send(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            scopes=scopes,
            params=params,
            headers={"Content-Length": "0"},
            data=b"",
            expect={201, 202},
        )
        async with response:
            if response.status == 201:
                return True, None
            location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"registry opened an upload for {repository} without a Location")
        return False, str(_absolute(await self.ping(), location))

    async def _patch(self, location: str, scopes: list[str], data: bytes, offset: int) -> str:
        response = await self._send(
            "PATCH",
            location,
            scopes=scopes,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(data) - 1}",
            },
            data=data,
            expect={202},
        )
        async with response:
            following = response.headers.get("Location")
        return str(_absolute(await self.ping(), following)) if following else location

    async def _cancel_upload(self, repository: str, location: str) -> None:
        # Best effort: an abandoned session only costs the registry a little space.
        try:
            response = await self._send(
                "DELETE",
                location,
                scopes=[repository_scope(repository, "pull", "push")],
                expect={200, 202, 204, 404},
            )
            response.release()
        except RegistryError:
            pass

    async def _read_body(self, response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
        data = bytearray()
        async for chunk in _body_chunks(response, self, str(response.url)):
            data += chunk
            if len(data) > limit:
                raise RegistryError(f"{what} from {response.url} is larger than {limit} bytes")
        return bytes(data)


async def _body_chunks(
    response: aiohttp.ClientResponse, client: RegistryClient, url: str
) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_chunked(CHUNK_SIZE):
            yield chunk
    except TimeoutError as exc:
        raise client._timeout_error(response.method, url, exc) from None
    except aiohttp.ClientError as exc:
        raise RegistryConnectionError(
            f'{response.method.capitalize()} "{url}": {_describe(exc)}'
        ) from None


async def _read_error_body(response: aiohttp.ClientResponse) -> bytes:
    try:
        async with response:
            return await response.content.read(_ERROR_BODY_LIMIT)
    except (TimeoutError, aiohttp.ClientError):
        return b""


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _absolute(endpoint: Endpoint, path_or_url: str) -> URL:
    target = URL(path_or_url, encoded=True)
    if target.is_absolute():
        return target
    return URL(endpoint.base_url).join(target)


def _is_manifest_type(content_type: str) -> bool:
    return mediatypes.is_manifest(content_type) or mediatypes.is_index(content_type)


def _digest_as(data: bytes, like: str | None) -> str:
    algorithm = like.split(":", 1)[0] if like and ":" in like else "sha256"
    if algorithm not in ("sha256", "sha384", "sha512"):
        algorithm = "sha256"
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the registry closed the connection"
    return text or type(exc).__name__
