"""A container's ``LogConfig``: which drivers exist and what their options mean.

Checks happen when dockerd makes them: the driver name and option keys when a
container is created (`validate_log_config`), the option values when the
logger starts (`JsonFileOptions.parse`; dockerd then reports
``failed to initialize logging driver: <message>``). Messages are dockerd's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from daemon import errors

JSON_FILE = "json-file"
NONE = "none"
DEFAULT_DRIVER = JSON_FILE
DRIVERS = frozenset({JSON_FILE, NONE})

# Options the daemon handles for every driver, before the driver sees the rest.
_MODE_OPTIONS = frozenset({"mode", "max-buffer-size"})
_JSON_FILE_OPTIONS = frozenset(
    {"max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"}
)
_MODES = frozenset({"", "blocking", "non-blocking"})

# docker/go-units' size syntax; json-file sizes use its decimal multipliers.
_SIZE = re.compile(r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?")
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_GO_INT = re.compile(r"[+-]?\d+")


class LogOptionError(errors.InvalidParameter, ValueError):
    """A log driver name or option that dockerd would refuse."""


class ReadingNotSupported(errors.NotImplemented):
    """``docker logs`` on a driver that keeps nothing to read (dockerd answers 501)."""

    def __init__(self) -> None:
        super().__init__("configured logging driver does not support reading")


def validate_log_config(driver: str, options: Mapping[str, str]) -> str:
    """Check a container's LogConfig at create time; returns the effective driver name."""
    name = driver or DEFAULT_DRIVER
    if name == NONE:
        return name
    mode = options.get("mode", "")
    if mode not in _MODES:
        raise LogOptionError(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in options:
        if mode != "non-blocking":
            raise LogOptionError(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
            )
        try:
            parse_ram_size(options["max-buffer-size"])
        except ValueError as exc:
            raise LogOptionError(f"error parsing option max-buffer-size: {exc}") from None
    if name not in DRIVERS:
        raise LogOptionError(f"logger: no log driver named '{name}' is registered")
    for key in options:
        if key not in _MODE_OPTIONS and key not in _JSON_FILE_OPTIONS:
            raise LogOptionError(f"unknown log opt '{key}' for json-file log driver")
    return name


def ensure_readable(driver: str) -> None:
    """Raise the error dockerd gives for ``docker logs`` when the driver cannot be read."""
    if (driver or DEFAULT_DRIVER) == NONE:
        raise ReadingNotSupported()


@dataclass(frozen=True, slots=True)
class JsonFileOptions:
    max_size: int | None = None
    max_file: int = 1
    compress: bool = False

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> JsonFileOptions:
        max_size: int | None = None
        if "max-size" in options:
            max_size = parse_human_size(options["max-size"])
            if max_size <= 0:
                raise LogOptionError("max-size must be a positive number")
        max_file = 1
        if "max-file" in options:
            max_file = _go_atoi(options["max-file"])
            if max_file < 1:
                raise LogOptionError("max-file cannot be less than 1")
        compress = False
        if "compress" in options:
            compress = _go_parse_bool(options["compress"])
            if compress and (max_file == 1 or max_size is None):
                raise LogOptionError(
                    "compress cannot be true when max-file is less than 2 or max-size is not set"
                )
        return cls(max_size, max_file, compress)


def parse_human_size(text: str) -> int:
    """A size like "10m" in bytes, with decimal units (k = 1000) as json-file's max-size."""
    return _parse_size(text, _DECIMAL)


def parse_ram_size(text: str) -> int:
    """A size like "10m" in bytes, with binary units (k = 1024)."""
    return _parse_size(text, {unit: 1024 ** (i + 1) for i, unit in enumerate("kmgtp")})


def _parse_size(text: str, units: Mapping[str, int]) -> int:
    match = _SIZE.fullmatch(text)
    if match is None:
        raise LogOptionError(f"invalid size: '{text}'")
    number, unit = match.group(1), match.group(2)
    try:
        size = float(number)
    except ValueError:
        raise LogOptionError(f'strconv.ParseFloat: parsing "{number}": invalid syntax') from None
    if unit:
        size *= units[unit.lower()]
    return int(size)


def _go_atoi(text: str) -> int:
    if _GO_INT.fullmatch(text) is None:
        raise LogOptionError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise LogOptionError(f'strconv.Atoi: parsing "{text}": value out of range')
    return value


def _go_parse_bool(text: str) -> bool:
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise LogOptionError(f'strconv.ParseBool: parsing "{text}": invalid syntax')
