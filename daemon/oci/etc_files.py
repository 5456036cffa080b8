"""The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf, as dockerd writes them.

They live in the container's directory on the host and are bind-mounted over
the image's files (see `mounts.plan_mounts`).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..smallfile import read_fd, read_text
from .errors import StartError
from .fields import get_str, get_strs

HOST_GATEWAY = "host-gateway"
DEFAULT_HOSTS = (
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)
# Used when filtering the host's file leaves no nameserver (Google Public DNS).
DEFAULT_NAMESERVERS = ("8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844")
HOST_RESOLV_CONF = "/etc/resolv.conf"
EMBEDDED_DNS = "127.0.0.11"  # the embedded DNS server, in every container on a user network
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"
_SYSTEMD_STUB = "127.0.0.53"
# A localhost nameserver means nothing inside the container's own network namespace.
_LOCALHOST_NAMESERVER = re.compile(
    r"(?m)^nameserver[\t\n\f\r ]+((127\.([0-9]{1,3}\.){2}[0-9]{1,3})|(::1)$)[\t\n\f\r ]*\n*"
)
_FILE_MODE = 0o644


@dataclass(frozen=True)
class EtcPaths:
    """Host paths of the files to bind over the container's; None means "do not mount"."""

    hostname: str | None = None
    hosts: str | None = None
    resolv_conf: str | None = None


# --- content ------------------------------------------------------------------------


def hostname_content(hostname: str) -> str:
    return hostname + "\n"


def resolve_extra_host(entry: str, host_gateway_ip: str | None) -> tuple[str, str]:
    """An ExtraHosts entry "name:ip" as (name, ip), split at the first colon (IPv6 has more)."""
    name, _, ip = entry.partition(":")
    if ip == HOST_GATEWAY:
        if not host_gateway_ip:
            raise StartError("unable to derive the IP value for host-gateway")
        ip = host_gateway_ip
    return name, ip.strip()


def hosts_content(
    extra_hosts: Sequence[str] = (),
    *,
    host_gateway_ip: str | None = None,
    ip: str = "",
    hostname: str = "",
    domainname: str = "",
) -> str:
    """Docker's default records, then ExtraHosts, then the container's own when it has an IP."""
    records = list(DEFAULT_HOSTS)
    for entry in extra_hosts:
        name, address = resolve_extra_host(entry, host_gateway_ip)
        records.append((address, name))
    if ip:
        fqdn = f"{hostname}.{domainname}" if domainname else hostname
        short = fqdn.split(".", 1)[0]
        records.append((ip, f"{fqdn} {short}" if "." in fqdn else fqdn))
    return "".join(f"{address}\t{names}\n" for address, names in records)


def _lines(content: str) -> list[str]:
    return [line.split("#", 1)[0] for line in content.split("\n")]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def nameservers(content: str) -> list[str]:
    found: list[str] = []
    for line in _lines(content):
        fields = line.split()
        if len(fields) == 2 and fields[0] == "nameserver" and _is_ip(fields[1]):
            found.append(fields[1])
    return found


def _last_list(content: str, keyword: str) -> list[str]:
    found: list[str] = []
    for line in _lines(content):
        fields = line.split()
        if fields and fields[0] == keyword:
            found = fields[1:]
    return found


def search_domains(content: str) -> list[str]:
    return _last_list(content, "search")


def resolver_options(content: str) -> list[str]:
    return _last_list(content, "options")


@functools.lru_cache(maxsize=8)
def filter_resolv_conf(content: str) -> str:
    """The host's file without localhost nameservers; Google's when none is left.

    Remembered per content: every create and start filters the host's same file (a
    regex and an address parse per nameserver, ~30 us a build: issue 13)."""
    cleaned = _LOCALHOST_NAMESERVER.sub("", content)
    if not nameservers(cleaned):
        # No trailing newline: byte for byte what dockerd writes.
        cleaned += "\n" + "\n".join(f"nameserver {ns}" for ns in DEFAULT_NAMESERVERS)
    return cleaned


def build_resolv_conf(dns: Sequence[str], search: Sequence[str], options: Sequence[str]) -> str:
    out = ""
    joined_search = " ".join(search)
    if search and joined_search.strip(" ") != ".":  # "--dns-search ." means no search line
        out += f"search {joined_search}\n"
    out += "".join(f"nameserver {ns}\n" for ns in dns)
    joined_options = " ".join(options)
    if options and joined_options.strip(" "):
        out += f"options {joined_options}\n"
    return out


def resolv_conf_content(
    host_content: str,
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_options: Sequence[str] = (),
) -> str:
    """A container's resolv.conf from the host's and HostConfig Dns, DnsSearch, DnsOptions.

    With any of the three given, the rest comes from the host's file unfiltered,
    as dockerd does; with none, the host's file minus localhost nameservers.
    """
    if not (dns or dns_search or dns_options):
        return filter_resolv_conf(host_content)
    return build_resolv_conf(
        list(dns) or nameservers(host_content),
        list(dns_search) or search_domains(host_content),
        list(dns_options) or resolver_options(host_content),
    )


def embedded_resolv_conf(base: str) -> str:
    """The resolv.conf of a container served by the embedded DNS server, from the one it
    would have had (`base`): dockerd's nameserver 127.0.0.11 (and base's IPv6 servers,
    which the embedded server does not serve), base's search and options, then ndots:0
    (dockerd 20.10 appends it even after a user's own ndots, which then only changes
    what the server forwards: see `Forwarding`)."""
    ipv6 = [ns for ns in nameservers(base) if ":" in ns]
    options = [*resolver_options(base), "ndots:0"]
    return build_resolv_conf([EMBEDDED_DNS, *ipv6], search_domains(base), options)


@dataclass(frozen=True)
class Forwarding:
    """What the embedded DNS server does with a container's names that are not its own."""

    upstreams: list[str]  # IPv4 resolvers to forward to
    # The user set ndots above 0: single-label A/AAAA names are answered empty rather
    # than forwarded, so that the client goes on with its search domains (dockerd's rule).
    ndots_set: bool


def embedded_forwarding(
    host_config: Mapping[str, Any], host_resolv_conf: str | None = None
) -> Forwarding:
    """From the resolv.conf the container would have had without the embedded server."""
    base = resolv_conf_content(
        _read_or_empty(host_resolv_conf) if host_resolv_conf else read_host_resolv_conf(),
        get_strs(host_config, "Dns"),
        get_strs(host_config, "DnsSearch"),
        get_strs(host_config, "DnsOptions"),
    )
    ndots_set = any(
        option.startswith("ndots:")
        and option[6:].isascii()
        and option[6:].isdigit()
        and int(option[6:]) > 0
        for option in resolver_options(base)
    )
    return Forwarding([ns for ns in nameservers(base) if ":" not in ns], ndots_set)


def host_resolv_conf_path(
    default: str = HOST_RESOLV_CONF, alternate: str = SYSTEMD_RESOLV_CONF
) -> str:
    """The host's resolv.conf, or systemd-resolved's upstream one when the host's is its stub."""
    try:
        content = read_text(default)
    except OSError:
        return default
    return alternate if _is_systemd_stub(content) else default


def _is_systemd_stub(content: str) -> bool:
    # The substring test first: parsing the file twice per spec build was ~1% of the
    # lifecycle's CPU (issue 13).
    return _SYSTEMD_STUB in content and nameservers(content) == [_SYSTEMD_STUB]


def read_host_resolv_conf(
    default: str = HOST_RESOLV_CONF, alternate: str = SYSTEMD_RESOLV_CONF
) -> str:
    """The content of `host_resolv_conf_path()`'s file, read once ("" if it is missing)."""
    try:
        content = read_text(default)
    except FileNotFoundError:
        return ""
    return _read_or_empty(alternate) if _is_systemd_stub(content) else content


# --- writing ------------------------------------------------------------------------


def write_atomic(
    path: str, content: str | bytes, mode: int = _FILE_MODE, *, new: bool = False
) -> None:
    """Write to a temporary file beside `path`, then rename over it.

    No fsync: these files are derived, written again at every start, so a crash can
    cost nothing that the next start does not rebuild. Unchanged content is not
    rewritten at all (a start after a create finds it in place). A file that does not
    exist yet (at create) is written in place: nobody reads it before the task starts,
    and a start that finds it half written (a crash, a full disk) writes it again.
    With `new` the caller expects no file (create's new directory): the in-place
    write comes first, without the read that would fail; a file there all the same
    is replaced as above.
    """
    data = content.encode() if isinstance(content, str) else content
    if new:
        if _write(path, data, mode, os.O_EXCL):
            return
    else:
        held = _holds(path, data, mode)
        if held:
            return
        if held is None and _write(path, data, mode, os.O_EXCL):
            return
    # One fixed temporary name per file, not mkstemp's random one: this runs on the event
    # loop's thread without awaiting, so no two writes of one file overlap; a leftover of
    # a crash is truncated by the next write.
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.tmp")
    _write(tmp, data, mode, os.O_TRUNC)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write(path: str, data: bytes, mode: int, flag: int) -> bool:
    """Create (`os.O_EXCL`: only a new file; False if it exists) or truncate (`os.O_TRUNC`)
    `path` and write `data` with exactly `mode`; a failed write leaves no file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | flag, mode)
    except FileExistsError:
        return False
    try:
        try:
            os.fchmod(fd, mode)  # exactly `mode`, whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return True


def _holds(path: str, data: bytes, mode: int) -> bool | None:
    """Whether `path` is a file with exactly `data` and `mode` (read only when its size
    matches; with os calls, see daemon/smallfile.py); None if there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        return st.st_size == len(data) and st.st_mode & 0o7777 == mode and read_fd(fd) == data
    except OSError:
        return False
    finally:
        os.close(fd)


def container_resolv_conf(
    host_config: Mapping[str, Any],
    *,
    embedded_dns: bool = False,
    host_resolv_conf: str | None = None,
) -> str:
    """A container's resolv.conf: the host's (host network, no Dns options), else built
    from the host's and Dns, DnsSearch, DnsOptions; with `embedded_dns` naming the
    embedded DNS server."""
    dns = get_strs(host_config, "Dns")
    dns_search = get_strs(host_config, "DnsSearch")
    dns_options = get_strs(host_config, "DnsOptions")
    host_resolv = _read_or_empty(host_resolv_conf) if host_resolv_conf else read_host_resolv_conf()
    if get_str(host_config, "NetworkMode") == "host" and not (dns or dns_search or dns_options):
        return host_resolv
    resolv = resolv_conf_content(host_resolv, dns, dns_search, dns_options)
    return embedded_resolv_conf(resolv) if embedded_dns else resolv


def rewrite_in_place(path: str, content: str) -> None:
    """Replace a file's content keeping its inode: a running container sees it through
    its bind mount (a rename would leave it the old file)."""
    with open(path, "r+") as f:
        f.truncate(0)
        f.write(content)


def _read_or_empty(path: str) -> str:
    try:
        return read_text(path)
    except FileNotFoundError:
        return ""


def write_etc_files(
    container_dir: str,
    config: Mapping[str, Any],
    host_config: Mapping[str, Any],
    *,
    host_hosts: str = "/etc/hosts",
    host_resolv_conf: str | None = None,
    host_gateway_ip: str | None = None,
    ip: str = "",
    embedded_dns: bool = False,
    new: bool = False,
) -> EtcPaths:
    """Write `hostname`, `hosts` and `resolv.conf` into `container_dir`; return their paths.
    `new`: the directory is expected to hold none of them yet (create; see write_atomic).

    `config` is the merged Config (Hostname, Domainname), `host_config` gives
    NetworkMode, ExtraHosts, Dns, DnsSearch, DnsOptions. With `embedded_dns` (a container
    on a user-defined network) resolv.conf names the embedded DNS server. A container on another
    container's network (container:<id>) uses that container's files: nothing is
    written and the caller passes the other's EtcPaths to `build_spec`.
    """
    network_mode = get_str(host_config, "NetworkMode")
    if network_mode.startswith("container:"):
        return EtcPaths()
    on_host = network_mode == "host"
    extra_hosts = get_strs(host_config, "ExtraHosts")

    if on_host and not extra_hosts:
        hosts = _read_or_empty(host_hosts)
    else:
        hosts = hosts_content(
            extra_hosts,
            host_gateway_ip=host_gateway_ip,
            ip=ip,
            hostname=get_str(config, "Hostname"),
            domainname=get_str(config, "Domainname"),
        )
    resolv = container_resolv_conf(
        host_config, embedded_dns=embedded_dns, host_resolv_conf=host_resolv_conf
    )
    hostname_path = os.path.join(container_dir, "hostname")
    hosts_path = os.path.join(container_dir, "hosts")
    resolv_path = os.path.join(container_dir, "resolv.conf")
    write_atomic(hostname_path, hostname_content(get_str(config, "Hostname")), new=new)
    write_atomic(hosts_path, hosts, new=new)
    write_atomic(resolv_path, resolv, new=new)
    return EtcPaths(hostname=hostname_path, hosts=hosts_path, resolv_conf=resolv_path)
