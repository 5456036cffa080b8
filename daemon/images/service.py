"""The daemon's image service: Docker's image model on containerd's image store.

An image's ID is its config digest. Each of its names is one containerd image
record pointing at its manifest (or index); see names.py. Everything the service
knows is cached in memory at `start()` (one Images.List plus content reads), so
`resolve`, list, inspect and history cost no RPC; changes go to containerd
first and to the cache once they succeeded.

Long operations (load, save, pull, push) return async iterators: progress
messages (dicts in dockerd's JSON-message shape) or archive bytes. An error
before the first item is raised from the first `__anext__`, so the HTTP layer
can still reply with its status; a later one ends the iteration by raising, and
the HTTP layer writes it as an error message (`progress.error_message`).

The daemon plugs in two callbacks: `set_usage_checker(fn)`, which tells which
containers use an image (for delete and prune), and `set_event_sink(fn)`,
which receives image events as dockerd emits them.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from daemon.config import DaemonConfig
from daemon.filters import FilterMap
from daemon.images import views
from daemon.images.cache import ImageCache
from daemon.images.delete import delete_image, prune_images
from daemon.images.errors import (
    InvalidImageReference,
    NoSuchImage,
    RegistryDenied,
    RegistryUnavailable,
)
from daemon.images.filters import list_images
from daemon.images.image import Image, ImageContent, ImageUse
from daemon.images.names import (
    MANIFEST_LABEL,
    TAGGED_AT_LABEL,
    dangling_name,
    is_dangling_name,
    named_with_tag,
    record_name,
)
from daemon.images.reference import (
    Reference,
)
from daemon.images.registry.auth import AuthConfig
from daemon.images.registry.client import Timeouts
from daemon.images.registry.endpoints import RegistryConfig
from daemon.images.registry.errors import RegistryAuthError, RegistryError
from daemon.images.store import ContainerdImages
from daemon.timefmt import now_rfc3339_nano
from libcontainerd.types import DEFAULT_SNAPSHOTTER, Client
from wire.image import (
    HistoryResponseItem,
    ImageDeleteResponseItem,
    ImageInspect,
    ImagePruneResponse,
    ImageSummary,
)

log = logging.getLogger(__name__)


# fn(image_id) -> the containers using it: short IDs (taken as stopped) or ImageUse.
UsageChecker = Callable[[str], Sequence[str | ImageUse]]
# fn(action, image ID or reference, attributes), as dockerd's LogImageEvent.
EventSink = Callable[[str, str, Mapping[str, str]], None]


def registry_settings(config: DaemonConfig) -> RegistryConfig:
    """The registry part of the daemon's configuration (at start, and after a reload)."""
    return RegistryConfig(
        insecure_registries=tuple(config.insecure_registries),
        mirrors=tuple(config.registry_mirrors),
        max_concurrent_downloads=config.max_concurrent_downloads,
        max_concurrent_uploads=config.max_concurrent_uploads,
        max_download_attempts=config.max_download_attempts,
    )


class ImageService:
    # Set by `start()`: the daemon knows its containerd only once it runs.
    client: Client
    store: ContainerdImages

    def __init__(
        self,
        data_root: str | Path = "/var/lib/moorage",
        registry_config: RegistryConfig | None = None,
        *,
        snapshotter: str = DEFAULT_SNAPSHOTTER,
        registry_timeouts: Timeouts | None = None,
    ) -> None:
        self.cache = ImageCache()
        self.data_root = Path(data_root)
        self.registry_config = registry_config or RegistryConfig()
        self.registry_timeouts = registry_timeouts or Timeouts()
        self.snapshotter = snapshotter
        self.lock = asyncio.Lock()  # around record changes, so cache and store agree
        self._usage: UsageChecker = lambda _image_id: ()
        self._events: EventSink = lambda _action, _id, _attributes: None
        self._pulls: dict[str, asyncio.Lock] = {}
        self._blob_locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def for_config(cls, config: DaemonConfig) -> ImageService:
        """The service as the daemon's configuration sets it up (data root,
        `insecure-registries`, `registry-mirrors`)."""
        return cls(config.data_root, registry_settings(config))

    @property
    def namespace(self) -> str:
        return self.client.namespace

    @property
    def tmp_dir(self) -> Path:
        path = self.data_root / "image-tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def start(self, client: Client) -> None:
        """Reads the images of `client`'s namespace into memory; from then on the service
        keeps them there through `client`, which stays its caller's to close."""
        self.client = client
        self.store = ContainerdImages(client.image_stores(self.snapshotter))
        await self.store.fill(self.cache)

    def rpc_counts(self) -> Mapping[str, int]:
        return self.client.rpc_counts()

    def set_usage_checker(self, checker: UsageChecker) -> None:
        self._usage = checker

    def set_event_sink(self, sink: EventSink) -> None:
        self._events = sink

    # -- reading (no RPC) ---------------------------------------------------------------

    def resolve(self, ref_or_id: str) -> Image:
        """The image a name, `name@digest`, full or short ID stands for. Raises NoSuchImage."""
        return self.cache.resolve(ref_or_id)

    def images(self) -> list[Image]:
        return self.cache.images()

    def list(self, *, all: bool = False, filters: FilterMap | None = None) -> list[ImageSummary]:
        """`GET /images/json`: newest first. Without `all`, nameless images another image
        was built on (a build's intermediate steps) are left out, as dockerd leaves them."""
        known = self.cache.images()
        parents = set() if all else {str(i.config.get("parent") or "") for i in known}
        chosen = list_images(known, filters or {}, self.resolve)
        entries = []
        for image, tags, digests in sorted(
            chosen, key=lambda item: (item[0].created_unix, item[0].id), reverse=True
        ):
            if image.dangling and image.id in parents:
                continue
            entry = views.summary(image)
            if not image.dangling:
                entry["RepoTags"] = list(tags)
                entry["RepoDigests"] = list(digests)
            entries.append(entry)
        return entries

    def inspect(self, name: str) -> ImageInspect:
        """`GET /images/{name}/json`; unknown: `no such image: x: No such image: x:latest`."""
        try:
            image = self.resolve(name)
        except NoSuchImage as exc:
            raise exc.within(name) from None
        return views.inspect(image, self.snapshotter)

    def history(self, name: str) -> builtins.list[HistoryResponseItem]:
        return views.history(self.resolve(name))

    # -- names --------------------------------------------------------------------------

    async def tag(self, source: str, repo: str, tag: str = "") -> str:
        """`POST /images/{name}/tag`; returns the new reference in its familiar form."""
        image = self.resolve(source)
        new_ref = parse_new_tag(repo, tag)
        async with self.lock:
            await self.name_image(
                new_ref, image.content, labels={TAGGED_AT_LABEL: now_rfc3339_nano()}
            )
        self.event("tag", image.id, new_ref.familiar())
        return new_ref.familiar()

    async def name_image(
        self, ref: Reference, content: ImageContent, labels: Mapping[str, str] | None = None
    ) -> str | None:
        """Points `ref` at `content`; returns the ID of an image the name was taken from.

        That image, left without names, keeps a dangling record (dockerd keeps it too,
        as `<none>:<none>`). Call with the lock held.
        """
        name = record_name(ref)
        previous = self.cache.id_of_record(name)
        existing = self.cache.records.get(name)
        if not labels and existing is not None and existing.target == content.target:
            return None  # already so: no RPC
        all_labels = dict(labels or {})
        if content.target.digest != content.manifest.digest:
            all_labels[MANIFEST_LABEL] = content.manifest.digest
        record = await self.store.put_record(
            name, content.target, all_labels, exists=name in self.cache.records
        )
        self.cache.put_content(content)
        self.cache.put_record(record)
        await self.drop_dangling(content.id)
        if previous is not None and previous != content.id:
            await self.keep_if_nameless(previous)
            return previous
        return None

    async def keep_if_nameless(self, image_id: str) -> None:
        """Gives an image that lost its last name a dangling record. Lock held."""
        if self.cache.record_names(image_id) or image_id not in self._known_contents():
            return
        content = self._known_contents()[image_id]
        name = dangling_name(content.target.digest)
        record = await self.store.put_record(name, content.target, {}, exists=False)
        self.cache.put_record(record)

    def _known_contents(self) -> dict[str, ImageContent]:
        return {content.id: content for content in self.cache.contents.values()}

    async def drop_dangling(self, image_id: str) -> None:
        """Removes the dangling records of an image that has a name now. Lock held."""
        names = self.cache.record_names(image_id)
        if len(names) < 2:
            return
        for name in names:
            if is_dangling_name(name):
                await self.store.delete_record(name)
                self.cache.drop_record(name)

    async def add_content(self, content: ImageContent) -> None:
        """Makes an image known without a name (a dangling record). Lock held."""
        self.cache.put_content(content)
        if not self.cache.record_names(content.id):
            name = dangling_name(content.target.digest)
            record = await self.store.put_record(name, content.target, {}, exists=False)
            self.cache.put_record(record)

    # -- events -------------------------------------------------------------------------

    def event(self, action: str, actor: str, name: str, image_id: str | None = None) -> None:
        """Publishes an image event; attributes are the image's labels plus `name`."""
        attributes: dict[str, str] = {}
        try:
            image = self.resolve(image_id or actor)
            attributes.update(image.labels or {})
        except Exception:
            pass
        attributes["name"] = name
        self.publish(action, actor, attributes)

    def publish(self, action: str, actor: str, attributes: Mapping[str, str]) -> None:
        try:
            self._events(action, actor, attributes)
        except Exception:
            log.exception("image event sink failed for %s %s", action, actor)

    def users(self, image_id: str) -> builtins.list[ImageUse]:
        return [
            use if isinstance(use, ImageUse) else ImageUse(str(use))
            for use in self._usage(image_id)
        ]

    # -- operations (in their own modules) ----------------------------------------------
    # Load, import, save, pull, push and login import theirs at their first use: with the
    # archive and registry code they carry, a start-up that needs none of them paid ~10 ms.

    async def delete(
        self, name: str, *, force: bool = False, noprune: bool = False
    ) -> builtins.list[ImageDeleteResponseItem]:
        """`DELETE /images/{name}`: [{"Untagged": ...}, {"Deleted": ...}] as dockerd."""
        return await delete_image(self, name, force=force, prune=not noprune)

    async def prune(self, filters: FilterMap | None = None) -> ImagePruneResponse:
        """`POST /images/prune`: {"ImagesDeleted": [...] or None, "SpaceReclaimed": n}."""
        return await prune_images(self, filters or {})

    def load(
        self, chunks: AsyncIterable[bytes], *, quiet: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """`POST /images/load`: a docker-save or OCI-layout archive, maybe compressed."""
        from daemon.images.load import load_images

        return load_images(self, chunks, quiet=quiet)

    def import_image(
        self,
        chunks: AsyncIterable[bytes],
        *,
        src: str,
        repo: str = "",
        tag: str = "",
        message: str = "",
        changes: Sequence[str] = (),
        platform: str = "",
    ) -> AsyncIterator[dict[str, Any]]:
        """`POST /images/create?fromSrc=-`: a root filesystem tar as a one-layer image."""
        from daemon.images.importer import import_image

        return import_image(
            self,
            chunks,
            src=src,
            repo=repo,
            tag=tag,
            message=message,
            changes=changes,
            platform=platform,
        )

    def save(self, names: Sequence[str]) -> AsyncIterator[bytes]:
        """`GET /images/get`: a docker-save archive of the named images."""
        from daemon.images.save import save_images

        return save_images(self, names)

    def pull(
        self,
        from_image: str,
        tag: str = "",
        *,
        platform: str = "",
        auth: AuthConfig | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """`POST /images/create?fromImage=...&tag=...&platform=...`."""
        from daemon.images.pull import pull_image

        return pull_image(self, from_image, tag, platform=platform, auth=auth)

    def push(
        self, name: str, tag: str = "", *, auth: AuthConfig | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """`POST /images/{name}/push?tag=...`."""
        from daemon.images.push import push_image

        return push_image(self, name, tag, auth=auth)

    async def login(self, auth: AuthConfig) -> dict[str, str]:
        """`POST /auth`: {"Status": "Login Succeeded", "IdentityToken": ...}."""
        from daemon.images.registry.login import login

        try:
            result = await login(auth, config=self.registry_config, timeouts=self.registry_timeouts)
        except RegistryAuthError as exc:
            raise RegistryDenied(str(exc)) from None
        except RegistryError as exc:
            raise RegistryUnavailable(str(exc)) from None
        reply = {"Status": result.status}
        if result.identity_token:
            reply["IdentityToken"] = result.identity_token
        return reply

    def blob_lock(self, digest: str) -> asyncio.Lock:
        """One writer per blob in this daemon: concurrent pulls share, not collide."""
        return self._blob_locks.setdefault(digest, asyncio.Lock())

    def pull_lock(self, key: str) -> asyncio.Lock:
        return self._pulls.setdefault(key, asyncio.Lock())


def parse_new_tag(repo: str, tag: str) -> Reference:
    """The reference `docker tag` creates from the `repo` and `tag` parameters."""
    ref = named_with_tag(repo, tag)
    if ref.digest is not None:
        raise InvalidImageReference("refusing to create a tag with a digest reference")
    if ref.familiar_name == "sha256":
        raise InvalidImageReference(
            "refusing to create an ambiguous tag using digest algorithm as name"
        )
    return ref.with_default_tag()
