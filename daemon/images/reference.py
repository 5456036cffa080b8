"""Docker image references: parsing, normalisation and the short (familiar) form.

Users type `busybox`, the API stores `docker.io/library/busybox:latest`, and
the CLI shows `busybox:latest` again; the rules for each step follow the
reference grammar the docker CLI and dockerd apply, including their error texts,
because clients match on those texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$", re.ASCII)
_TAG_RE = re.compile(rf"^{_TAG}$", re.ASCII)
_NAME_SPLIT_RE = re.compile(
    rf"^(?:({_DOMAIN})/)?({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)$", re.ASCII
)
_FULL_ID_RE = re.compile(r"^[a-f0-9]{64}$")
_ID_PREFIX_RE = re.compile(r"^[a-f0-9]{1,64}$")

# Encoded lengths of the digest algorithms a registry may use.
_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


class InvalidReferenceError(ValueError):
    """The text is not a valid image reference; str() is the message for the user."""


@dataclass(frozen=True)
class Reference:
    """A normalised reference: `domain` is never empty (docker.io for Docker Hub)."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository name with its domain: `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository name as users type it: `busybox`, `user/repo`, `host:5000/x`."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        short = self.path.removeprefix(OFFICIAL_REPO_PREFIX)
        # `library/a/b` keeps its prefix: dropping it would name another repository.
        return short if "/" not in short else self.path

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """The short form shown by the CLI: `busybox:latest`, `localhost:5000/x:t`."""
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        text = f":{self.tag}" if self.tag is not None else ""
        return text + (f"@{self.digest}" if self.digest is not None else "")

    @property
    def is_name_only(self) -> bool:
        return self.tag is None and self.digest is None

    def with_default_tag(self) -> Reference:
        """Adds `latest` to a bare name; a tag or a digest is left as it is."""
        return replace(self, tag=DEFAULT_TAG) if self.is_name_only else self

    def with_tag(self, tag: str) -> Reference:
        return replace(self, tag=parse_tag(tag))

    def with_digest(self, digest: str) -> Reference:
        return replace(self, digest=validate_digest(digest))

    def trimmed(self) -> Reference:
        """The bare repository name, without tag or digest."""
        return replace(self, tag=None, digest=None)


def parse_normalized_named(text: str) -> Reference:
    """Parses what a user typed into a full reference; no default tag is added."""
    if _FULL_ID_RE.match(text):
        raise InvalidReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(text)
    repo_part = remainder.split(":", 1)[0]
    if repo_part.lower() != repo_part:
        raise InvalidReferenceError("invalid reference format: repository name must be lowercase")
    ref = _parse(f"{domain}/{remainder}")
    return ref


def parse_docker_ref(text: str) -> Reference:
    """Like `parse_normalized_named`, with `latest` added when neither tag nor digest is given."""
    return parse_normalized_named(text).with_default_tag()


def parse_any_reference(text: str) -> Reference | str:
    """A reference, or a `sha256:<hex>` image ID when the text is a full ID in either form."""
    image_id = parse_image_id(text)
    if image_id is not None:
        return image_id
    return parse_normalized_named(text)


def reference_with_tag_param(ref: Reference, tag: str) -> Reference:
    """Applies the API's separate `tag` parameter, which may also carry a digest."""
    if not tag:
        return ref
    if ":" in tag and re.match(rf"^{_DIGEST}$", tag, re.ASCII):
        return ref.trimmed().with_digest(tag)
    return replace(ref, tag=parse_tag(tag), digest=None)


def familiar_string(text: str) -> str:
    """The short form of a reference given as text (`docker.io/library/a:b` -> `a:b`)."""
    return parse_normalized_named(text).familiar()


def parse_tag(tag: str) -> str:
    if not _TAG_RE.match(tag):
        raise InvalidReferenceError("invalid tag format")
    return tag


def validate_digest(digest: str) -> str:
    algorithm, sep, encoded = digest.partition(":")
    if not sep or not encoded:
        raise InvalidReferenceError("invalid checksum digest format")
    expected = _DIGEST_HEX_LENGTHS.get(algorithm)
    if expected is None:
        raise InvalidReferenceError("unsupported digest algorithm")
    if len(encoded) != expected:
        raise InvalidReferenceError("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidReferenceError("invalid checksum digest format")
    return digest


def parse_image_id(text: str) -> str | None:
    """`sha256:<64 hex>` for a full image ID given with or without the prefix, else None."""
    hex_part = text.removeprefix("sha256:")
    return f"sha256:{hex_part}" if _FULL_ID_RE.match(hex_part) else None


def image_id_prefix(text: str) -> str | None:
    """The hex part of something that may be a (short) image ID: `3f4d`, `sha256:3f4d`.

    A short hex string is also a valid repository name, so callers look it up as a
    reference first and as an ID prefix only when that finds nothing, as dockerd does.
    """
    hex_part = text.removeprefix("sha256:")
    return hex_part if _ID_PREFIX_RE.match(hex_part) else None


def short_id(image_id: str) -> str:
    """The 12-hex short form of an ID or digest (`sha256:` dropped)."""
    return image_id.split(":", 1)[-1][:12]


def _split_docker_domain(text: str) -> tuple[str, str]:
    first, sep, rest = text.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        domain, remainder = DEFAULT_DOMAIN, text
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def _parse(text: str) -> Reference:
    match = _REFERENCE_RE.match(text)
    if match is None:
        if not text:
            raise InvalidReferenceError("repository name must have at least one component")
        if _REFERENCE_RE.match(text.lower()):
            raise InvalidReferenceError(
                "invalid reference format: repository name must be lowercase"
            )
        raise InvalidReferenceError("invalid reference format")
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReferenceError(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    split = _NAME_SPLIT_RE.match(name)
    if split is None or split.group(1) is None:
        raise InvalidReferenceError("invalid reference format")
    if digest is not None:
        validate_digest(digest)
    return Reference(domain=split.group(1), path=split.group(2), tag=tag, digest=digest)
