"""`docker rmi` and `docker image prune`, with dockerd 20.10's untag-or-delete rules.

Given a name, only that name goes, unless it was the image's last one; given an
ID, the image goes with all its names, if at most one repository names it. A
container using the image makes either a conflict unless forced, and a running
one even then. Deleting the image's last record lets containerd's GC reclaim its
content and the layer snapshots no other image or container uses; those layers
are reported as `Deleted` chain IDs, top first, as dockerd reports layers.

Built images have parents (a build's steps, named by the config's `parent`):
deleting an image, unless `noprune`, goes on with its parent when nothing else
holds it (no name, no other child, no container), as dockerd's delete does; an
image with children cannot be deleted, and prune leaves such images to their
children's deletion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from daemon.errors import DaemonError
from daemon.filters import FilterMap, prune_until
from daemon.images.errors import ImageConflict, InvalidImageReference, NoSuchImage
from daemon.images.filters import PRUNE_FILTERS, dangling_only, prune_matches, validate
from daemon.images.image import Image
from daemon.images.names import is_tag
from daemon.images.reference import (
    InvalidReferenceError,
    Reference,
    parse_normalized_named,
    short_id,
)
from wire.image import ImageDeleteResponseItem, ImagePruneResponse

if TYPE_CHECKING:
    from daemon.images.service import ImageService

Records = list[ImageDeleteResponseItem]


class _Conflict(ImageConflict):
    def __init__(self, image_id: str, message: str, *, hard: bool, used: bool) -> None:
        force = "cannot be forced" if hard else "must be forced"
        super().__init__(f"conflict: unable to delete {short_id(image_id)} ({force}) - {message}")
        self.hard = hard
        self.used = used


async def delete_image(svc: ImageService, name: str, *, force: bool, prune: bool) -> Records:
    image = svc.resolve(name)
    image_id = image.id
    records: Records = []
    # Kept: untagging may leave the image without records, and so out of the cache's view.
    async with svc.lock:
        refs = [ref for _, ref in svc.cache.references(image_id)]
        quiet = False
        if not _is_id_prefix(image_id, name):
            if not force and _single_reference(refs):
                users = svc.users(image_id)
                if users:
                    raise ImageConflict(
                        f'conflict: unable to remove repository reference "{name}" (must force) '
                        f"- container {short_id(users[0].container_id)} is using its "
                        f"referenced image {short_id(image_id)}"
                    )
            removed = await _untag(svc, image_id, _named(name), records)
            refs = [ref for _, ref in svc.cache.references(image_id)]
            if is_tag(removed) and not any(r.name == removed.name and is_tag(r) for r in refs):
                # A repository's last tag takes its digest references along.
                for ref in [r for r in refs if r.name == removed.name]:
                    await _untag(svc, image_id, ref, records)
                refs = [ref for _, ref in svc.cache.references(image_id)]
            if refs:
                return records
            quiet = True
        elif _single_reference(refs):
            conflict = _conflict(svc, image_id, hard=True, soft=not force, references=False)
            if conflict is not None:
                raise conflict
            for ref in refs:
                await _untag(svc, image_id, ref, records)
        await _delete_helper(svc, image, records, force=force, quiet=quiet, prune=prune)
    return records


def _children(svc: ImageService, image_id: str) -> list[Image]:
    return [other for other in svc.cache.images() if other.config.get("parent") == image_id]


async def _delete_helper(
    svc: ImageService, image: Image, records: Records, *, force: bool, quiet: bool, prune: bool
) -> None:
    image_id = image.id
    conflict = _conflict(svc, image_id, hard=True, soft=not force, references=not force)
    if conflict is None and _children(svc, image_id):
        conflict = _Conflict(image_id, "image has dependent child images", hard=True, used=False)
    if conflict is not None:
        # dockerd's "dangling": no name and no child image.
        dangling = not svc.cache.references(image_id) and not _children(svc, image_id)
        if quiet and (not dangling or conflict.used):
            # It stays, nameless: a dangling record keeps it from the GC.
            await svc.keep_if_nameless(image_id)
            return
        raise conflict
    for _, ref in svc.cache.references(image_id):
        await _untag(svc, image_id, ref, records)
    in_use = bool(svc.users(image_id))
    names = svc.cache.record_names(image_id)
    for position, name in enumerate(names):
        # The last deletion waits for containerd's GC, so the space is free on return.
        await svc.store.delete_record(name, sync=position == len(names) - 1)
        svc.cache.drop_record(name)
    if not names:
        await svc.store.collect_garbage()
    svc.cache.forget_unused_contents()
    svc.event("delete", image_id, image_id)
    records.append({"Deleted": image_id})
    if not in_use:  # else the containers' snapshots keep every layer
        still_used = {chain for other in svc.cache.images() for chain in other.chain_ids}
        for chain_id in reversed(image.chain_ids):
            if chain_id not in still_used:
                records.append({"Deleted": chain_id})
    parent_id = str(image.config.get("parent") or "")
    if not prune or not parent_id:
        return
    try:
        parent = svc.resolve(parent_id)
    except NoSuchImage:
        return
    if not svc.cache.references(parent.id) and not _children(svc, parent.id):
        # Quiet: a parent that is in use stays, nameless, without an error.
        await _delete_helper(svc, parent, records, force=False, quiet=True, prune=True)


async def _untag(svc: ImageService, image_id: str, ref: Reference, records: Records) -> Reference:
    name = svc.cache.record_for(ref)
    if name is None or svc.cache.id_of_record(name) != image_id:
        raise NoSuchImage(ref)
    await svc.store.delete_record(name)
    svc.cache.drop_record(name)
    records.append({"Untagged": ref.familiar()})
    svc.event("untag", image_id, image_id)
    return ref


def _conflict(
    svc: ImageService, image_id: str, *, hard: bool, soft: bool, references: bool
) -> _Conflict | None:
    users = svc.users(image_id)
    if hard:
        running = [use for use in users if use.running]
        if running:
            return _Conflict(
                image_id,
                f"image is being used by running container {short_id(running[0].container_id)}",
                hard=True,
                used=True,
            )
    if soft and references and svc.cache.references(image_id):
        return _Conflict(
            image_id, "image is referenced in multiple repositories", hard=False, used=False
        )
    if soft:
        stopped = [use for use in users if not use.running]
        if stopped:
            return _Conflict(
                image_id,
                f"image is being used by stopped container {short_id(stopped[0].container_id)}",
                hard=False,
                used=True,
            )
    return None


def _single_reference(refs: list[Reference]) -> bool:
    """At most one tag, and every digest reference in that tag's repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    tags = [ref for ref in refs if is_tag(ref)]
    if len(tags) > 1:
        return False
    digest_repos = {ref.name for ref in refs if not is_tag(ref)}
    single = tags[0] if tags else refs[0]
    return len(digest_repos) == 1 and single.name in digest_repos


def _is_id_prefix(image_id: str, text: str) -> bool:
    return image_id.startswith(text) or image_id.removeprefix("sha256:").startswith(text)


def _named(name: str) -> Reference:
    try:
        ref = parse_normalized_named(name)
    except InvalidReferenceError as exc:
        raise InvalidImageReference(str(exc)) from None
    return ref.with_default_tag() if ref.is_name_only else ref


async def prune_images(svc: ImageService, filters: FilterMap) -> ImagePruneResponse:
    validate(filters, PRUNE_FILTERS)
    only_dangling = dangling_only(filters, default=True, spellings=("true", "false", "1", "0"))
    until = prune_until(filters, InvalidImageReference)
    parents = {str(image.config.get("parent") or "") for image in svc.cache.images()}
    candidates = [
        image
        for image in svc.cache.images()
        # An image with children goes with the last of them (see _delete_helper).
        if not svc.users(image.id)
        and not (image.id in parents and not svc.cache.references(image.id))
        and prune_matches(image, filters, until)
    ]
    deleted: Records = []
    for image in candidates:
        refs = [ref for _, ref in svc.cache.references(image.id)]
        if refs:
            if only_dangling and any(is_tag(ref) for ref in refs):
                continue
            targets = [str(ref) for ref in refs]
        else:
            targets = [image.id.removeprefix("sha256:")]
        for target in targets:
            try:
                deleted.extend(await delete_image(svc, target, force=False, prune=True))
            except DaemonError:
                continue  # gone meanwhile, or in use: not this prune's to remove
    reclaimed = 0
    sizes = svc.cache.layer_sizes
    for entry in deleted:
        chain_id = entry.get("Deleted", "")
        reclaimed += sizes.get(chain_id, 0)
    svc.publish("prune", "", {"reclaimed": str(reclaimed)})
    return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}
