"""Image archives: reading `docker save` and OCI-layout tarballs, writing `docker save`.

Reading turns an uploaded archive (an async byte stream, possibly gzip, bzip2
or xz compressed) into a spool directory plus a list of `ImportImage`s that
name every blob to put into the content store, with each blob's digest
checked. A docker-save image gets a schema2 manifest built for it, as
containerd's own import does, so that every image has a manifest to register.

Writing produces the layout docker 20.10 saves (manifest.json, repositories,
`<config hex>.json`, `<layer id>/{VERSION,json,layer.tar}`) as a stream.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.images import mediatypes
from daemon.images.compression import (
    DecompressionError,
    auto_decompress,
    detect_file,
    uncompressed_digest,
)
from daemon.images.manifest import (
    MAX_CONFIG_SIZE,
    MAX_MANIFEST_SIZE,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    ManifestError,
    build_docker_manifest,
    parse_image_config,
    parse_manifest,
    select_manifest,
)
from daemon.images.platforms import PlatformSpec, host_platform
from daemon.images.reference import (
    InvalidReferenceError,
    Reference,
    parse_docker_ref,
    parse_normalized_named,
)
from daemon.images.spool import SpooledFile, SpooledTree, SpoolError
from daemon.tario import (
    END_OF_ARCHIVE,
    TarFormatError,
    TarReader,
    directory_header,
    file_header,
    padding,
    symlink_header,
)
from daemon.timefmt import created_unix
from wire.container_config import ContainerConfig

_MAX_INDEX_DEPTH = 8
_CONFIG_NAME_RE = re.compile(r"^([a-f0-9]{64})\.json$")


class ImageArchiveError(ValueError):
    """The archive cannot be imported; str() says why, for the user."""


@dataclass(frozen=True)
class BlobFile:
    """A blob for the content store, already on disk and checked against its digest."""

    digest: str
    size: int
    media_type: str
    path: Path


@dataclass(frozen=True)
class LayerBlob(BlobFile):
    diff_id: str  # sha256 of the uncompressed tar, as the config's rootfs lists it

    @property
    def compression(self) -> mediatypes.Compression:
        return mediatypes.layer_compression(self.media_type)


@dataclass
class ImportImage:
    """One image of an archive, ready for the content store and the image store."""

    names: list[str]  # full references (`docker.io/library/busybox:latest`); may be empty
    target: BlobFile  # what the image record points at: the manifest or an index above it
    manifest: BlobFile  # the single-platform manifest that is unpacked
    config: bytes
    config_blob: BlobFile
    image_config: ImageConfig
    layers: list[LayerBlob]
    blobs: list[BlobFile] = field(default_factory=list)  # all of the above, children first

    @classmethod
    def of_manifest(
        cls,
        manifest: BlobFile,
        config: bytes,
        config_blob: BlobFile,
        image_config: ImageConfig,
        layers: list[LayerBlob],
        names: list[str] | None = None,
    ) -> ImportImage:
        """An image whose record points at its manifest (the caller may set an index above)."""
        return cls(
            names=names or [],
            target=manifest,
            manifest=manifest,
            config=config,
            config_blob=config_blob,
            image_config=image_config,
            layers=layers,
            blobs=_unique_blobs([*layers, config_blob, manifest]),
        )

    @property
    def id(self) -> str:
        """The image ID, which is the config's digest."""
        return self.config_blob.digest


async def read_image_archive(
    chunks: AsyncIterable[bytes],
    spool_dir: Path,
    *,
    platform: PlatformSpec | None = None,
) -> list[ImportImage]:
    """Reads a docker-save or OCI-layout archive into `spool_dir` (which the caller removes).

    `platform` picks the manifest of a multi-platform OCI image (default: this machine).
    """
    tree = SpooledTree(spool_dir)
    try:
        await tree.receive(TarReader(auto_decompress(chunks)))
    except (TarFormatError, SpoolError, DecompressionError) as exc:
        raise ImageArchiveError(str(exc)) from None
    reader = _ArchiveReader(tree, platform or host_platform())
    try:
        return await reader.read()
    except (SpoolError, ManifestError, DecompressionError) as exc:
        raise ImageArchiveError(str(exc)) from None


class _ArchiveReader:
    def __init__(self, tree: SpooledTree, platform: PlatformSpec) -> None:
        self._tree = tree
        self._platform = platform
        self._diff_ids: dict[Path, tuple[str, mediatypes.Compression]] = {}

    async def read(self) -> list[ImportImage]:
        has_index = self._tree.lookup("index.json") is not None
        has_manifest = self._tree.lookup("manifest.json") is not None
        if has_index:
            images = await self._read_oci()
            if has_manifest:
                self._merge_docker_names(images)
            return images
        if has_manifest:
            return await self._read_docker()
        if self._tree.lookup("repositories") is not None:
            raise ImageArchiveError(
                "unsupported image archive: legacy docker-save format without manifest.json"
            )
        raise ImageArchiveError(
            "invalid image archive: it has neither manifest.json nor index.json"
        )

    # docker save -----------------------------------------------------------------

    def _docker_entries(self) -> list[dict[str, Any]]:
        raw = self._json("manifest.json", MAX_MANIFEST_SIZE)
        if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
            raise ImageArchiveError("invalid manifest.json: not a list of objects")
        for entry in raw:
            layers = entry.get("Layers")
            tags = entry.get("RepoTags")
            if not isinstance(entry.get("Config"), str) or not _str_list(layers):
                raise ImageArchiveError("invalid manifest.json: entry without Config or Layers")
            if tags is not None and not _str_list(tags):
                raise ImageArchiveError("invalid manifest.json: RepoTags is not a list of strings")
        return raw

    async def _read_docker(self) -> list[ImportImage]:
        by_id: dict[str, ImportImage] = {}
        for entry in self._docker_entries():
            names = [_normalize_tag(tag) for tag in entry.get("RepoTags") or []]
            config_file = self._require(entry["Config"], "manifest.json")
            config = self._read(config_file, MAX_CONFIG_SIZE)
            expected = _CONFIG_NAME_RE.match(config_file.name.rsplit("/", 1)[-1])
            if expected and config_file.digest != f"sha256:{expected.group(1)}":
                raise ImageArchiveError(
                    f"config {entry['Config']} has digest {config_file.digest}, "
                    "which does not match its name"
                )
            if config_file.digest in by_id:
                _add_names(by_id[config_file.digest], names)
                continue
            image_config = parse_image_config(config)
            diff_ids = image_config.rootfs.diff_ids
            layer_names: list[str] = entry["Layers"]
            if len(layer_names) != len(diff_ids):
                raise ImageArchiveError(
                    "invalid manifest, layers length mismatch: "
                    f"expected {len(layer_names)}, got {len(diff_ids)}"
                )
            layers: list[LayerBlob] = []
            for position, (name, diff_id) in enumerate(zip(layer_names, diff_ids, strict=True)):
                layer_file = self._require(name, "manifest.json")
                actual, compression = await self._diff_id(layer_file, diff_id)
                if actual != diff_id:
                    raise ImageArchiveError(
                        f'invalid diffID for layer {position}: expected "{diff_id}", got "{actual}"'
                    )
                layers.append(
                    LayerBlob(
                        digest=layer_file.digest,
                        size=layer_file.size,
                        media_type=mediatypes.docker_layer_type(compression),
                        path=layer_file.path,
                        diff_id=diff_id,
                    )
                )
            config_blob = BlobFile(
                config_file.digest, config_file.size, mediatypes.DOCKER_CONFIG, config_file.path
            )
            manifest_bytes = build_docker_manifest(
                _descriptor(config_blob), [_descriptor(layer) for layer in layers]
            )
            digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
            built = self._tree.add_file(manifest_bytes, digest)
            manifest_blob = BlobFile(digest, built.size, mediatypes.DOCKER_MANIFEST, built.path)
            by_id[config_file.digest] = ImportImage.of_manifest(
                manifest_blob, config, config_blob, image_config, layers, _unique(names)
            )
        return list(by_id.values())

    def _merge_docker_names(self, images: list[ImportImage]) -> None:
        """Archives saved by newer engines carry both layouts; take the tags of both."""
        by_id = {image.id: image for image in images}
        for entry in self._docker_entries():
            config_file = self._tree.lookup(entry["Config"])
            if config_file is not None and config_file.digest in by_id:
                names = [_normalize_tag(tag) for tag in entry.get("RepoTags") or []]
                _add_names(by_id[config_file.digest], names)

    # OCI layout ------------------------------------------------------------------

    async def _read_oci(self) -> list[ImportImage]:
        layout = self._tree.lookup("oci-layout")
        if layout is not None:
            version = self._json("oci-layout", 4096)
            if (
                not isinstance(version, dict)
                or version.get("imageLayoutVersion") != mediatypes.OCI_LAYOUT_VERSION
            ):
                raise ImageArchiveError("unsupported oci-layout version")
        index_file = self._require("index.json", "the archive")
        parsed = parse_manifest(self._read(index_file, MAX_MANIFEST_SIZE))
        if not isinstance(parsed, Index):
            raise ImageArchiveError("invalid index.json: not an image index")
        by_target: dict[str, ImportImage] = {}
        for entry in parsed.manifests:
            names = _annotation_names(entry.annotations or {})
            if entry.digest in by_target:
                _add_names(by_target[entry.digest], names)
                continue
            target = self._blob(entry, "index.json")
            chain: list[BlobFile] = []
            manifest_blob, manifest = self._resolve(entry, target, chain, depth=0)
            image = await self._oci_image(manifest_blob, manifest)
            image.names = _unique(names)
            image.target = target
            image.blobs = _unique_blobs([*image.blobs, *reversed(chain)])
            by_target[entry.digest] = image
        return list(by_target.values())

    def _resolve(
        self, desc: Descriptor, blob: BlobFile, chain: list[BlobFile], depth: int
    ) -> tuple[BlobFile, Manifest]:
        """Follows indexes down to the manifest for the wanted platform."""
        if depth > _MAX_INDEX_DEPTH:
            raise ImageArchiveError("image indexes nested too deeply")
        parsed = parse_manifest(self._read(blob, MAX_MANIFEST_SIZE), desc.media_type)
        if isinstance(parsed, Manifest):
            return blob, parsed
        chain.append(blob)
        present = [m for m in parsed.manifests if self._tree.lookup(_blob_name(m)) is not None]
        if not present and parsed.manifests:
            missing = parsed.manifests[0].digest
            raise ImageArchiveError(
                f"blob {missing} named by index {desc.digest} is missing from the archive"
            )
        subset = Index(schemaVersion=2, manifests=present)
        try:
            chosen = select_manifest(subset, self._platform)
        except ManifestError:
            nested = [m for m in present if mediatypes.is_index(m.media_type)]
            untagged = [
                m for m in present if m.platform is None and mediatypes.is_manifest(m.media_type)
            ]
            if nested:
                chosen = nested[0]
            elif len(untagged) == 1:
                chosen = untagged[0]
            else:
                raise
        return self._resolve(chosen, self._blob(chosen, desc.digest), chain, depth + 1)

    async def _oci_image(self, manifest_blob: BlobFile, manifest: Manifest) -> ImportImage:
        where = f"manifest {manifest_blob.digest}"
        config_blob = self._blob(manifest.config, where)
        config = self._read(config_blob, MAX_CONFIG_SIZE)
        image_config = parse_image_config(config)
        diff_ids = image_config.rootfs.diff_ids
        if len(diff_ids) != len(manifest.layers):
            raise ImageArchiveError(
                f"{where} has {len(manifest.layers)} layers, its config lists {len(diff_ids)}"
            )
        layers: list[LayerBlob] = []
        for position, (desc, diff_id) in enumerate(zip(manifest.layers, diff_ids, strict=True)):
            blob = self._blob(desc, where)
            found = self._tree.lookup(_blob_name(desc))
            assert found is not None  # _blob checked it
            actual, compression = await self._diff_id(found, diff_id)
            if compression != mediatypes.layer_compression(desc.media_type):
                raise ImageArchiveError(
                    f"layer {desc.digest} is {compression or 'uncompressed'}, "
                    f"but its media type is {desc.media_type}"
                )
            if actual != diff_id:
                raise ImageArchiveError(
                    f'invalid diffID for layer {position}: expected "{diff_id}", got "{actual}"'
                )
            layers.append(
                LayerBlob(blob.digest, blob.size, blob.media_type, blob.path, diff_id=diff_id)
            )
        return ImportImage.of_manifest(manifest_blob, config, config_blob, image_config, layers)

    # shared ----------------------------------------------------------------------

    async def _diff_id(
        self, layer: SpooledFile, expected: str
    ) -> tuple[str, mediatypes.Compression]:
        """The layer's diff ID as computed from its content, and how it is compressed."""
        cached = self._diff_ids.get(layer.path)
        if cached is not None:
            return cached
        kind = detect_file(layer.path)
        result: tuple[str, mediatypes.Compression]
        if kind is None and layer.digest.startswith("sha256:"):
            result = (layer.digest, None)
        elif kind is None or kind == "gzip":
            result = ((await uncompressed_digest(layer.path))[0], kind)
        elif kind == "zstd":
            # No zstd decoder in the standard library: the config's word is taken
            # here, and unpacking the layer checks it.
            result = (expected, "zstd")
        else:
            raise ImageArchiveError(
                f"layer {layer.name} is compressed with {kind}, which image layers cannot use"
            )
        self._diff_ids[layer.path] = result
        return result

    def _require(self, name: str, referrer: str) -> SpooledFile:
        found = self._tree.lookup(name)
        if found is None:
            raise ImageArchiveError(f'{referrer} names "{name}", which is missing from the archive')
        return found

    def _blob(self, desc: Descriptor, referrer: str) -> BlobFile:
        found = self._tree.lookup(_blob_name(desc))
        if found is None:
            raise ImageArchiveError(
                f"blob {desc.digest} named by {referrer} is missing from the archive"
            )
        if found.size != desc.size:
            raise ImageArchiveError(
                f"blob {desc.digest} is {found.size} bytes, but {referrer} says {desc.size}"
            )
        return BlobFile(desc.digest, desc.size, desc.media_type, found.path)

    def _read(self, found: SpooledFile | BlobFile, limit: int) -> bytes:
        if found.size > limit:
            raise ImageArchiveError(f"{found.digest} is too large ({found.size} bytes)")
        return found.path.read_bytes()

    def _json(self, name: str, limit: int) -> Any:
        data = self._tree.read_bytes(name, limit)
        if data is None:
            raise ImageArchiveError(f"{name} is missing from the archive")
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ImageArchiveError(f"invalid {name}: {exc}") from None


def _blob_name(desc: Descriptor) -> str:
    algorithm, _, encoded = desc.digest.partition(":")
    if not re.fullmatch(r"[a-z0-9]+", algorithm) or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise ImageArchiveError(f"invalid digest {desc.digest!r}")
    return f"blobs/{algorithm}/{encoded}"


def _descriptor(blob: BlobFile) -> Descriptor:
    return Descriptor(mediaType=blob.media_type, digest=blob.digest, size=blob.size)


def _normalize_tag(tag: str) -> str:
    try:
        return str(parse_docker_ref(tag))
    except InvalidReferenceError as exc:
        raise ImageArchiveError(f"invalid tag {tag!r} in manifest.json: {exc}") from None


def _annotation_names(annotations: dict[str, str]) -> list[str]:
    full = annotations.get(mediatypes.ANNOTATION_CONTAINERD_NAME)
    if full:
        return [_normalize_tag(full)]
    ref_name = annotations.get(mediatypes.ANNOTATION_REF_NAME, "")
    # A bare tag (`latest`) names no repository; only a full reference names an image.
    if any(sep in ref_name for sep in ":/@"):
        try:
            return [str(parse_docker_ref(ref_name))]
        except InvalidReferenceError:
            return []
    return []


def _add_names(image: ImportImage, names: list[str]) -> None:
    image.names = _unique([*image.names, *names])


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _unique_blobs(blobs: Sequence[BlobFile]) -> list[BlobFile]:
    return list({blob.digest: blob for blob in reversed(blobs)}.values())[::-1]


def _str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# Writing ----------------------------------------------------------------------------

Write = Callable[[bytes], Awaitable[None]]

_EMPTY_CONTAINER_CONFIG = ContainerConfig.encode(None)


@dataclass(frozen=True)
class SaveLayer:
    diff_id: str
    size: int  # of the uncompressed tar: the tar header needs it before the data
    open: Callable[[], AsyncIterator[bytes]]  # yields the uncompressed tar


@dataclass(frozen=True)
class SaveImage:
    config: bytes
    layers: Sequence[SaveLayer]
    repo_tags: Sequence[str] = ()  # any spelling; written in the familiar form


@dataclass
class _Entry:
    name: str
    kind: str  # "dir", "bytes", "layer", "symlink"
    data: bytes = b""
    layer: SaveLayer | None = None
    target: str = ""
    mtime: int = 0


async def write_docker_save(write: Write, images: Sequence[SaveImage]) -> None:
    """Streams a docker-save archive of `images` to `write` (e.g. a response's write)."""
    entries: dict[str, _Entry] = {}
    manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    layer_paths: dict[str, str] = {}  # diff_id -> first path written for it
    for image in images:
        config = json.loads(image.config)
        config_hex = hashlib.sha256(image.config).hexdigest()
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        if [layer.diff_id for layer in image.layers] != diff_ids:
            raise ValueError(f"layers of image sha256:{config_hex} do not match its config")
        mtime = max(created_unix(config.get("created")), 0)  # docker save: no times before 1970
        entries[f"{config_hex}.json"] = _Entry(
            f"{config_hex}.json", "bytes", data=image.config, mtime=mtime
        )
        layer_names: list[str] = []
        parent = ""
        chain = ""
        for position, layer in enumerate(image.layers):
            chain = layer.diff_id if position == 0 else _chain(chain, layer.diff_id)
            top = position == len(image.layers) - 1
            v1 = _v1_config(config, top)
            layer_id = _v1_id(v1, chain, parent)
            body = {"id": layer_id, **({"parent": parent} if parent else {}), **v1}
            directory = layer_id
            layer_names.append(f"{directory}/layer.tar")
            if f"{directory}/layer.tar" not in entries:
                entries[directory + "/"] = _Entry(directory + "/", "dir", mtime=mtime)
                entries[f"{directory}/VERSION"] = _Entry(
                    f"{directory}/VERSION", "bytes", data=b"1.0", mtime=mtime
                )
                entries[f"{directory}/json"] = _Entry(
                    f"{directory}/json", "bytes", data=json.dumps(body).encode(), mtime=mtime
                )
                first = layer_paths.get(layer.diff_id)
                if first is None:
                    layer_paths[layer.diff_id] = f"{directory}/layer.tar"
                    entries[f"{directory}/layer.tar"] = _Entry(
                        f"{directory}/layer.tar", "layer", layer=layer, mtime=mtime
                    )
                else:
                    # Same content under another chain: docker links instead of copying.
                    entries[f"{directory}/layer.tar"] = _Entry(
                        f"{directory}/layer.tar", "symlink", target=f"../{first}", mtime=mtime
                    )
            parent = layer_id
        tags = [ref for ref in map(_familiar_tag, image.repo_tags) if ref is not None]
        manifest.append(
            {
                "Config": f"{config_hex}.json",
                "RepoTags": [ref.familiar() for ref in tags] or None,
                "Layers": layer_names,
            }
        )
        for ref in tags:
            if parent:
                assert ref.tag is not None
                repositories.setdefault(ref.familiar_name, {})[ref.tag] = parent
    entries["manifest.json"] = _Entry(
        "manifest.json", "bytes", data=json.dumps(manifest, separators=(",", ":")).encode()
    )
    if repositories:
        entries["repositories"] = _Entry(
            "repositories", "bytes", data=json.dumps(repositories, separators=(",", ":")).encode()
        )
    for name in sorted(entries):
        await _write_entry(write, entries[name])
    await write(END_OF_ARCHIVE)


async def _write_entry(write: Write, entry: _Entry) -> None:
    if entry.kind == "dir":
        await write(directory_header(entry.name, entry.mtime))
    elif entry.kind == "symlink":
        await write(symlink_header(entry.name, entry.target, entry.mtime))
    elif entry.kind == "bytes":
        await write(file_header(entry.name, len(entry.data), entry.mtime) + entry.data)
        await write(padding(len(entry.data)))
    else:
        assert entry.layer is not None
        await _write_layer(write, entry, entry.layer)


async def _write_layer(write: Write, entry: _Entry, layer: SaveLayer) -> None:
    await write(file_header(entry.name, layer.size, entry.mtime))
    hasher = hashlib.sha256()
    written = 0
    async for chunk in layer.open():
        written += len(chunk)
        if written > layer.size:
            raise ImageArchiveError(f"layer {layer.diff_id} is larger than {layer.size} bytes")
        hasher.update(chunk)
        await write(chunk)
    if written != layer.size:
        raise ImageArchiveError(f"layer {layer.diff_id} is {written} bytes, expected {layer.size}")
    if f"sha256:{hasher.hexdigest()}" != layer.diff_id:
        raise ImageArchiveError(
            f"layer {layer.diff_id} content has digest sha256:{hasher.hexdigest()}"
        )
    await write(padding(layer.size))


def _v1_config(config: dict[str, Any], top: bool) -> dict[str, Any]:
    if top:
        return {k: v for k, v in config.items() if k not in ("rootfs", "history", "id", "parent")}
    return {
        "created": "1970-01-01T00:00:00Z",
        "container_config": _EMPTY_CONTAINER_CONFIG,
        "os": config.get("os", "linux"),
    }


def _v1_id(v1: dict[str, Any], chain_id: str, parent: str) -> str:
    # Legacy layer IDs only need to be stable and distinct per (config, chain, parent).
    keyed = {**v1, "layer_id": chain_id}
    if parent:
        keyed["parent"] = f"sha256:{parent}"
    canonical = json.dumps(keyed, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def _chain(parent_chain: str, diff_id: str) -> str:
    return "sha256:" + hashlib.sha256(f"{parent_chain} {diff_id}".encode()).hexdigest()


def _familiar_tag(text: str) -> Reference | None:
    """A tag as manifest.json lists it; references by digest alone are not listed."""
    try:
        ref = parse_normalized_named(text)
    except InvalidReferenceError:
        return None
    if ref.tag is None:
        return None if ref.digest else ref.with_default_tag()
    return Reference(ref.domain, ref.path, ref.tag)
