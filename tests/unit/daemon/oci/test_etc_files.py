"""/etc/hostname, /etc/hosts and /etc/resolv.conf as dockerd writes them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from daemon.oci.errors import StartError
from daemon.oci.etc_files import (
    EtcPaths,
    embedded_forwarding,
    embedded_resolv_conf,
    host_resolv_conf_path,
    hosts_content,
    read_host_resolv_conf,
    resolv_conf_content,
    write_atomic,
    write_etc_files,
)

DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
GOOGLE = (
    "\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    "nameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844"
)


def test_default_hosts() -> None:
    assert hosts_content() == DEFAULT_HOSTS


def test_extra_hosts_then_own_entry() -> None:
    content = hosts_content(
        ["db:10.0.0.2", "v6:fe80::1", "gw:host-gateway"],
        host_gateway_ip="172.17.0.1",
        ip="10.0.0.5",
        hostname="web",
        domainname="example.com",
    )
    assert content == DEFAULT_HOSTS + (
        "10.0.0.2\tdb\nfe80::1\tv6\n172.17.0.1\tgw\n10.0.0.5\tweb.example.com web\n"
    )


def test_host_gateway_needs_an_address() -> None:
    with pytest.raises(StartError, match="unable to derive the IP value for host-gateway"):
        hosts_content(["gw:host-gateway"])


def test_resolv_conf_drops_localhost_nameservers() -> None:
    host = "# comment\nsearch corp\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions ndots:2\n"
    assert (
        resolv_conf_content(host)
        == "# comment\nsearch corp\nnameserver 10.0.0.1\noptions ndots:2\n"
    )


def test_resolv_conf_falls_back_to_google() -> None:
    host = "nameserver 127.0.0.1\nnameserver ::1\nsearch lan\n"
    assert resolv_conf_content(host) == "search lan\n" + GOOGLE
    assert resolv_conf_content("") == GOOGLE


def test_resolv_conf_user_settings_override() -> None:
    host = "search corp\nnameserver 10.0.0.1\noptions ndots:2\n"
    assert resolv_conf_content(host, dns=["1.1.1.1"]) == (
        "search corp\nnameserver 1.1.1.1\noptions ndots:2\n"
    )
    assert resolv_conf_content(host, dns_search=["a", "b"], dns_options=["rotate"]) == (
        "search a b\nnameserver 10.0.0.1\noptions rotate\n"
    )
    assert resolv_conf_content(host, dns_search=["."]) == ("nameserver 10.0.0.1\noptions ndots:2\n")


def test_systemd_resolved_stub_detection(tmp_path: Path) -> None:
    stub = tmp_path / "resolv.conf"
    stub.write_text("nameserver 127.0.0.53\noptions edns0\n")
    alternate = str(tmp_path / "upstream")
    assert host_resolv_conf_path(str(stub), alternate) == alternate
    stub.write_text("nameserver 10.1.1.1\n")
    assert host_resolv_conf_path(str(stub), alternate) == str(stub)


def test_host_resolv_conf_content_is_the_stubs_upstream(tmp_path: Path) -> None:
    stub = tmp_path / "resolv.conf"
    upstream = tmp_path / "upstream"
    upstream.write_text("nameserver 10.2.2.2\n")
    stub.write_text("nameserver 127.0.0.53\noptions edns0\n")
    assert read_host_resolv_conf(str(stub), str(upstream)) == "nameserver 10.2.2.2\n"
    # The stub's address beside another nameserver is no stub: the file itself is used.
    stub.write_text("nameserver 127.0.0.53\nnameserver 10.1.1.1\n")
    assert read_host_resolv_conf(str(stub), str(upstream)) == stub.read_text()
    assert read_host_resolv_conf(str(tmp_path / "missing"), str(upstream)) == ""


@pytest.fixture
def host_files(tmp_path: Path) -> tuple[str, str]:
    hosts = tmp_path / "host-hosts"
    hosts.write_text("127.0.0.1 localhost\n10.9.9.9 build-box\n")
    resolv = tmp_path / "host-resolv"
    resolv.write_text("nameserver 127.0.0.11\nnameserver 10.0.0.1\n")
    return str(hosts), str(resolv)


def write(tmp_path: Path, host_files: tuple[str, str], network_mode: str, **hc: object) -> EtcPaths:
    container_dir = tmp_path / "container"
    container_dir.mkdir(exist_ok=True)
    return write_etc_files(
        str(container_dir),
        {"Hostname": "abc123", "Domainname": ""},
        {"NetworkMode": network_mode, **hc},
        host_hosts=host_files[0],
        host_resolv_conf=host_files[1],
    )


def read(path: str | None) -> str:
    assert path is not None
    return Path(path).read_text()


def test_written_files_for_own_network(tmp_path: Path, host_files: tuple[str, str]) -> None:
    paths = write(tmp_path, host_files, "none", ExtraHosts=["db:10.0.0.2"])
    assert paths.hostname == str(tmp_path / "container" / "hostname")
    assert read(paths.hostname) == "abc123\n"
    assert read(paths.hosts) == DEFAULT_HOSTS + "10.0.0.2\tdb\n"
    assert read(paths.resolv_conf) == "nameserver 10.0.0.1\n"
    assert paths.resolv_conf is not None
    assert stat.S_IMODE(os.stat(paths.resolv_conf).st_mode) == 0o644
    assert sorted(os.listdir(tmp_path / "container")) == ["hostname", "hosts", "resolv.conf"]


def test_host_network_copies_the_hosts_files(tmp_path: Path, host_files: tuple[str, str]) -> None:
    paths = write(tmp_path, host_files, "host")
    assert read(paths.hosts) == Path(host_files[0]).read_text()
    assert read(paths.resolv_conf) == Path(host_files[1]).read_text()
    with_extra = write(tmp_path, host_files, "host", ExtraHosts=["a:1.2.3.4"], Dns=["9.9.9.9"])
    assert read(with_extra.hosts) == DEFAULT_HOSTS + "1.2.3.4\ta\n"
    assert read(with_extra.resolv_conf) == "nameserver 9.9.9.9\n"


def test_container_network_writes_nothing(tmp_path: Path, host_files: tuple[str, str]) -> None:
    assert write(tmp_path, host_files, "container:other") == EtcPaths()
    assert os.listdir(tmp_path / "container") == []


def test_rewrite_replaces_atomically(tmp_path: Path, host_files: tuple[str, str]) -> None:
    first = write(tmp_path, host_files, "default")
    assert first.hostname is not None and first.hosts is not None
    hostname_inode = os.stat(first.hostname).st_ino
    hosts_inode = os.stat(first.hosts).st_ino
    # The same content again (a start after the create) leaves the files in place.
    second = write(tmp_path, host_files, "default")
    assert second == first
    assert os.stat(first.hostname).st_ino == hostname_inode
    # New content replaces a file by rename: a reader sees the old or the new, never half.
    third = write(tmp_path, host_files, "default", ExtraHosts=["dock:10.9.8.7"])
    assert third == first
    assert os.stat(first.hosts).st_ino != hosts_inode
    assert read(first.hosts).endswith("10.9.8.7\tdock\n")
    assert os.stat(first.hostname).st_ino == hostname_inode


def test_embedded_resolv_conf_names_127_0_0_11_keeps_search_options_and_ipv6() -> None:
    base = "search a.test b.test\nnameserver 10.0.0.1\nnameserver fd00::1\noptions rotate\n"
    assert embedded_resolv_conf(base) == (
        "search a.test b.test\nnameserver 127.0.0.11\nnameserver fd00::1\noptions rotate ndots:0\n"
    )
    # dockerd 20.10 appends its ndots:0 after a user's own ndots too.
    assert embedded_resolv_conf("nameserver 10.0.0.1\noptions ndots:3\n") == (
        "nameserver 127.0.0.11\noptions ndots:3 ndots:0\n"
    )
    assert embedded_resolv_conf("options ndots:0\n") == (
        "nameserver 127.0.0.11\noptions ndots:0 ndots:0\n"
    )


def test_upstreams_are_the_dns_option_else_the_hosts_filtered(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver fd00::1\n")
    assert embedded_forwarding({}, str(host)).upstreams == ["10.0.0.1"]
    dns = {"Dns": ["10.9.9.9"]}
    assert embedded_forwarding(dns, str(host)).upstreams == ["10.9.9.9"]
    host.write_text("nameserver 127.0.0.1\noptions ndots:0\n")
    assert embedded_forwarding({}, str(host)).upstreams == ["8.8.8.8", "8.8.4.4"]
    # ndots above 0, the host's or the user's, is "set"; ndots:0 is not.
    assert embedded_forwarding({}, str(host)).ndots_set is False
    assert embedded_forwarding({"DnsOptions": ["ndots:2"]}, str(host)).ndots_set is True


def test_same_size_other_bytes_or_mode_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "hostname"
    path.write_text("abc123\n")
    os.chmod(path, 0o644)
    inode = os.stat(path).st_ino
    write_atomic(str(path), "abc123\n")
    assert os.stat(path).st_ino == inode  # in place: nothing to write
    write_atomic(str(path), "xyz789\n")  # same size, other bytes
    assert path.read_text() == "xyz789\n"
    os.chmod(path, 0o600)
    write_atomic(str(path), "xyz789\n")  # same bytes, other mode
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_a_failed_first_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    with pytest.raises(TypeError):
        write_atomic(str(path), 42)  # type: ignore[arg-type]  # fails before any write
    assert os.listdir(tmp_path) == []
    write_atomic(str(path), "127.0.0.1\tlocalhost\n")
    assert path.read_text() == "127.0.0.1\tlocalhost\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(tmp_path) == ["hosts"]  # written in place: no temporary name


def test_a_new_file_is_written_in_place_and_a_leftover_is_replaced(tmp_path: Path) -> None:
    fresh = tmp_path / "hostname"
    write_atomic(str(fresh), "abc123\n", new=True)
    assert fresh.read_text() == "abc123\n"
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o644
    # A file there after all (a crash's leftover under the same name): its content and
    # mode are replaced whole, and no temporary file stays.
    leftover = tmp_path / "hosts"
    leftover.write_text("stale and longer than the new content\n")
    os.chmod(leftover, 0o600)
    write_atomic(str(leftover), "127.0.0.1\tlocalhost\n", new=True)
    assert leftover.read_text() == "127.0.0.1\tlocalhost\n"
    assert stat.S_IMODE(os.stat(leftover).st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["hostname", "hosts"]
