"""Which URLs serve a registry domain, following dockerd's rules.

docker.io is served by registry-1.docker.io, after any configured mirrors
(for pulls only). A registry is "insecure" when listed in
`insecure-registries` (by host[:port] or by CIDR) or when it is on a
loopback address; dockerd then tries TLS without certificate checks first and
plain HTTP after it, so both endpoints are listed in that order.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .concurrency import MAX_CONCURRENT_DOWNLOADS, MAX_CONCURRENT_UPLOADS, MAX_DOWNLOAD_ATTEMPTS

DOCKER_HUB_DOMAIN = "docker.io"
DOCKER_HUB_REGISTRY = "https://registry-1.docker.io"
# The key Docker clients file Hub credentials under, in config files and X-Registry-Auth.
DOCKER_HUB_SERVER_ADDRESS = "https://index.docker.io/v1/"
_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_ALWAYS_INSECURE = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # scheme://host[:port], no trailing slash
    verify_tls: bool = True
    mirror: bool = False

    @property
    def is_tls(self) -> bool:
        return self.base_url.startswith("https://")


@dataclass(frozen=True)
class RegistryConfig:
    """The registry part of the daemon's configuration (daemon.json names in comments)."""

    insecure_registries: tuple[str, ...] = ()  # "insecure-registries"
    mirrors: tuple[str, ...] = field(default=())  # "registry-mirrors"
    max_concurrent_downloads: int = MAX_CONCURRENT_DOWNLOADS  # "max-concurrent-downloads"
    max_concurrent_uploads: int = MAX_CONCURRENT_UPLOADS  # "max-concurrent-uploads"
    max_download_attempts: int = MAX_DOWNLOAD_ATTEMPTS  # "max-download-attempts"


def normalize_domain(server: str) -> str:
    """The registry domain behind a server address: `https://index.docker.io/v1/` -> docker.io."""
    text = server.strip()
    if "://" in text:
        text = urlsplit(text).netloc
    # The host only: credentials in the address ("user@host") are not the registry's name.
    text = text.split("/", 1)[0].rpartition("@")[2].lower()
    return DOCKER_HUB_DOMAIN if text in _HUB_ALIASES or not text else text


def is_insecure(domain: str, config: RegistryConfig) -> bool:
    host = _host_of(domain)
    for entry in config.insecure_registries:
        entry = entry.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
        if entry.lower() in (domain.lower(), host.lower()):
            return True
        network = _network(entry)
        address = _address(host)
        if network is not None and address is not None and address in network:
            return True
    if host == "localhost":
        return True
    address = _address(host)
    return address is not None and any(address in net for net in _ALWAYS_INSECURE)


def endpoints_for(domain: str, config: RegistryConfig, *, push: bool = False) -> list[Endpoint]:
    """Endpoints to try, in order, for a domain as a normalised reference spells it."""
    domain = normalize_domain(domain)
    if domain == DOCKER_HUB_DOMAIN:
        mirrors = [] if push else [_mirror(url, config) for url in config.mirrors]
        return [*mirrors, Endpoint(DOCKER_HUB_REGISTRY)]
    if is_insecure(domain, config):
        return [Endpoint(f"https://{domain}", verify_tls=False), Endpoint(f"http://{domain}")]
    return [Endpoint(f"https://{domain}")]


def _mirror(url: str, config: RegistryConfig) -> Endpoint:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"https://{url}"
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    verify = not (parts.scheme == "https" and is_insecure(parts.netloc, config))
    return Endpoint(base, verify_tls=verify, mirror=True)


def _host_of(domain: str) -> str:
    if domain.startswith("["):
        return domain[1:].split("]", 1)[0]
    return domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in entry:
        return None
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None
