"""Legacy links (`--link name:alias`) on the default bridge network, as dockerd 20.10
has them: HostConfig.Links kept as "/child:/parent/alias", the child must run on the
default bridge when the parent starts, and the parent gets an /etc/hosts line for the
child (alias, the child's hostname, and its name when it differs from the alias) and
the child's environment variables (<ALIAS>_PORT..., <ALIAS>_NAME, <ALIAS>_ENV_...).
A child that starts again has its address updated in its running parents' /etc/hosts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import errors
from .ports import split_port

if TYPE_CHECKING:
    from ..container.model import Container

# Variables of the child's environment that are not passed on (set by every image build).
_NOT_PASSED = frozenset({"HOME", "PATH"})


@dataclass(frozen=True)
class Target:
    """What a link needs of the linked (child) container."""

    id: str
    name: str  # with its slash
    hostname: str
    exposed_ports: Sequence[str]  # "80/tcp", ...
    env: Sequence[str]
    network_mode: str
    running: bool


def target_of(container: Container | None) -> Target | None:
    if container is None:
        return None
    config = container.config
    return Target(
        id=container.id,
        name=container.name,
        hostname=str(config.get("Hostname") or ""),
        exposed_ports=sorted(config.get("ExposedPorts") or {}),
        env=[str(e) for e in config.get("Env") or []],
        network_mode=str(container.host_config.get("NetworkMode") or ""),
        running=container.state.running,
    )


@dataclass(frozen=True)
class Parent:
    """A running container with links: its /etc/hosts (on the host) and its Links."""

    hosts_path: str
    links: Sequence[str]


def updated_hosts(content: str, alias: str, ip: str) -> str:
    """`content` with the address of the line that names `alias` first set to `ip` (a
    linked container started again, maybe elsewhere); unchanged if there is none."""
    lines = content.split("\n")
    for index, line in enumerate(lines):
        address, tab, names = line.partition("\t")
        if tab and names.split(" ", 1)[0] == alias and address != ip:
            lines[index] = f"{ip}\t{names}"
    return "\n".join(lines)


def parse(entry: str) -> tuple[str, str]:
    """A Links entry as (child name, alias): "name", "name:alias", or the stored form
    "/name:/parent/alias"."""
    parts = entry.split(":")
    if len(parts) > 2 or not parts[0]:
        raise errors.InvalidParameter(f"bad format for links: {entry}")
    if len(parts) == 1:
        return entry.lstrip("/"), entry.lstrip("/")
    name, alias = parts
    return name.lstrip("/"), alias.rsplit("/", 1)[-1]


def stored(child_name: str, parent_name: str, alias: str) -> str:
    """The form HostConfig.Links keeps (and inspect shows)."""
    return f"/{child_name.lstrip('/')}:/{parent_name.lstrip('/')}/{alias}"


def hosts_entry(alias: str, child: Target, ip: str) -> str:
    """An ExtraHosts-style "names:ip" entry for the parent's /etc/hosts."""
    names = [alias, child.hostname]
    if alias != child.name.lstrip("/"):
        names.append(child.name.lstrip("/"))
    return f"{' '.join(n for n in names if n)}:{ip}"


def _sorted_ports(keys: Sequence[str]) -> list[tuple[int, str]]:
    # By number; on a tie tcp first.
    return sorted((split_port(k) for k in keys), key=lambda p: (p[0], p[1] != "tcp"))


def environment(link_name: str, alias: str, ip: str, child: Target) -> list[str]:
    """The variables a link gives the parent, in dockerd's order."""
    prefix = alias.upper().replace("-", "_")
    ports = _sorted_ports(child.exposed_ports)
    env: list[str] = []
    if ports:
        port, proto = ports[0]
        env.append(f"{prefix}_PORT={proto}://{ip}:{port}")
    index = 0
    while index < len(ports):
        last = index
        while last + 1 < len(ports) and ports[last + 1][0] == ports[last][0] + 1:
            last += 1
        if last > index + 1:  # three or more contiguous ports also read as a range
            (first, proto), (end, end_proto) = ports[index], ports[last]
            key = f"{prefix}_PORT_{first}_{proto.upper()}"
            end_key = f"{prefix}_PORT_{first}_{end_proto.upper()}"
            env += [
                f"{key}_START={proto}://{ip}:{first}",
                f"{key}_ADDR={ip}",
                f"{key}_PROTO={proto}",
                f"{key}_PORT_START={first}",
                f"{end_key}_END={end_proto}://{ip}:{end}",
                f"{end_key}_PORT_END={end}",
            ]
            index = last + 1
        else:
            index += 1
    for port, proto in ports:
        key = f"{prefix}_PORT_{port}_{proto.upper()}"
        env += [f"{key}={proto}://{ip}:{port}", f"{key}_ADDR={ip}", f"{key}_PORT={port}",
                f"{key}_PROTO={proto}"]  # fmt: skip
    env.append(f"{prefix}_NAME={link_name}")
    for entry in child.env:
        key, sep, value = entry.partition("=")
        if sep and key not in _NOT_PASSED:
            env.append(f"{prefix}_ENV_{key}={value}")
    return env


def links_of(host_config: Mapping[str, Any]) -> list[str]:
    return [str(entry) for entry in host_config.get("Links") or []]
