"""Platforms (os/architecture/variant): parsing, normalisation and matching.

Registries and image tools spell the same machine several ways (x86_64 and
amd64, aarch64 and arm64 with or without `v8`); everything is normalised
before it is compared, the way containerd's platform matcher does it.
"""

from __future__ import annotations

import platform as _host
import re
import sys
from dataclasses import dataclass

_KNOWN_OS = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "windows",
        "zos",
    ]
)
_KNOWN_ARCH = frozenset(
    [
        "386",
        "amd64",
        "amd64p32",
        "arm",
        "armbe",
        "arm64",
        "arm64be",
        "ppc64",
        "ppc64le",
        "loong64",
        "mips",
        "mipsle",
        "mips64",
        "mips64le",
        "mips64p32",
        "mips64p32le",
        "ppc",
        "riscv",
        "riscv64",
        "s390",
        "s390x",
        "sparc",
        "sparc64",
        "wasm",
    ]
)
_COMPONENT_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class InvalidPlatformError(ValueError):
    """A platform string such as `linux/amd64` could not be understood."""


@dataclass(frozen=True)
class PlatformSpec:
    """A normalised platform; compare these, never raw strings."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


def normalize(os: str, architecture: str, variant: str | None = None) -> PlatformSpec:
    os = os.lower()
    if os == "macos":
        os = "darwin"
    arch = architecture.lower()
    var = (variant or "").lower()
    if arch == "i386":
        arch = "386"
    elif arch in ("x86_64", "x86-64", "amd64"):
        arch = "amd64"
        if var == "v1":
            var = ""
    elif arch in ("aarch64", "arm64"):
        arch = "arm64"
        # An arm64 image without a variant is a v8 image; spelling differs by tool.
        if var in ("", "8", "v8"):
            var = "v8"
    elif arch == "armhf":
        arch, var = "arm", "v7"
    elif arch == "armel":
        arch, var = "arm", "v6"
    elif arch == "arm":
        if var in ("", "7"):
            var = "v7"
        elif var in ("5", "6", "8"):
            var = "v" + var
    return PlatformSpec(os=os, architecture=arch, variant=var)


def host_platform() -> PlatformSpec:
    """The platform of this machine, the default for pulls and loads."""
    machine = _host.machine().lower()
    variant = ""
    if machine.startswith("armv") and machine[4:5].isdigit():
        variant = "v" + machine[4]
        machine = "arm"
    os = "linux" if sys.platform.startswith("linux") else sys.platform
    return normalize(os, machine, variant)


def parse_platform(text: str) -> PlatformSpec:
    """Parses `os[/arch[/variant]]`; a lone known architecture means this machine's OS."""
    parts = text.split("/")
    if not text or len(parts) > 3 or any(not _COMPONENT_RE.match(p) for p in parts):
        raise InvalidPlatformError(
            f'"{text}": unknown operating system or architecture: invalid argument'
        )
    host = host_platform()
    if len(parts) == 1:
        word = parts[0].lower()
        if word in _KNOWN_OS or word == "macos":
            spec = normalize(word, host.architecture, host.variant)
            return spec if spec.os == host.os else normalize(word, host.architecture)
        guess = normalize(host.os, word)
        if guess.architecture in _KNOWN_ARCH:
            return guess
        raise InvalidPlatformError(
            f'"{text}": unknown operating system or architecture: invalid argument'
        )
    spec = normalize(parts[0], parts[1], parts[2] if len(parts) == 3 else None)
    if spec.os not in _KNOWN_OS:
        raise InvalidPlatformError(f'"{text}": unknown operating system: invalid argument')
    if spec.architecture not in _KNOWN_ARCH:
        raise InvalidPlatformError(f'"{text}": unknown architecture: invalid argument')
    return spec


def compatible_platforms(want: PlatformSpec) -> list[PlatformSpec]:
    """`want` first, then what this machine also runs, best first (older arm variants)."""
    result = [want]
    arm_version: int | None = None
    if want.architecture == "arm" and want.variant.startswith("v"):
        arm_version = _int_or_none(want.variant[1:])
    elif want.architecture == "arm64" and want.variant == "v8":
        # arm64 machines run 32-bit arm code, starting at the same ISA level.
        arm_version = 9
    if arm_version is not None:
        for version in range(arm_version - 1, 4, -1):
            result.append(PlatformSpec(want.os, "arm", f"v{version}"))
    return result


def match_rank(want: PlatformSpec, os: str, architecture: str, variant: str | None) -> int | None:
    """How well a platform serves `want`: 0 is exact, higher is a fallback, None is no match."""
    have = normalize(os, architecture, variant)
    for rank, candidate in enumerate(compatible_platforms(want)):
        if candidate == have:
            return rank
    return None


def _int_or_none(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None
