"""Dockerfile instructions applied to an image's config: the `changes` of commit and import.

A config here is the Docker API's container config (`Cmd`, `Entrypoint`, `Env`,
`ExposedPorts`, `Labels`, `User`, `Volumes`, `WorkingDir`, `Healthcheck`,
`OnBuild`, `StopSignal`), the `config` part of an image config. dockerd 20.10
accepts these instructions as changes: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
ONBUILD, USER, VOLUME, WORKDIR and HEALTHCHECK; any other is refused with
"<instruction> is not a valid change command". The builder applies the same
instructions to its run config, so they live here, one function each.

`merge` is how dockerd fills what the changes left unset from the container's
own config when it commits.

Left out: `$VAR` expansion in ENV, LABEL, WORKDIR and friends (dockerd expands
them from the config's environment).
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Callable, Sequence
from typing import Any

from daemon.errors import InvalidParameter

Config = dict[str, Any]

COMMIT_INSTRUCTIONS = frozenset(
    {
        "cmd",
        "entrypoint",
        "env",
        "expose",
        "healthcheck",
        "label",
        "onbuild",
        "user",
        "volume",
        "workdir",
    }
)
_SHELL = ["/bin/sh", "-c"]


class _State:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.cmd_set = False


def apply_changes(config: Config | None, changes: Sequence[str]) -> Config:
    """A copy of `config` with the change lines applied, or InvalidParameter as dockerd."""
    state = _State(copy.deepcopy(config) if config else {})
    parsed = [_split(line) for line in _lines(changes)]
    for name, _ in parsed:
        if name not in COMMIT_INSTRUCTIONS:
            raise InvalidParameter(f"{name} is not a valid change command")
    for name, rest in parsed:
        _HANDLERS[name](state, rest)
    return state.config


def _lines(changes: Sequence[str]) -> list[str]:
    """The instructions, as dockerd joins the changes with newlines before parsing;
    a line ending in a backslash continues on the next."""
    out: list[str] = []
    pending = ""
    for line in "\n".join(changes).split("\n"):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1]
            continue
        out.append(pending + stripped)
        pending = ""
    if pending.strip():
        out.append(pending)
    return out


def _split(line: str) -> tuple[str, str]:
    name, _, rest = line.strip().partition(" ")
    return name.lower(), rest.strip()


def _words(text: str) -> list[str]:
    """Whitespace-separated words, quotes removed and backslash escapes applied."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    in_word = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and quote != "'":
            current.append(text[index + 1])
            in_word = True
            index += 2
            continue
        if quote:
            if char == quote:
                quote = ""
            else:
                current.append(char)
        elif char in "\"'":
            quote = char
            in_word = True
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
        index += 1
    if quote:
        raise InvalidParameter(f"unexpected end of statement while looking for matching {quote}")
    if in_word:
        words.append("".join(current))
    return words


def _json_or_shell(name: str, rest: str) -> tuple[list[str], bool]:
    """The exec form (a JSON array of strings) or the shell form; True for the exec form."""
    if rest.startswith("["):
        try:
            parsed = json.loads(rest)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed, True
    return [rest] if rest else [], False


def _pairs(name: str, rest: str) -> list[tuple[str, str]]:
    """`k=v k2="v 2"`, or the old `k v w` form (one pair, the value the rest)."""
    words = _words(rest)
    if not words:
        raise InvalidParameter(f"{name.upper()} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = rest.partition(" ")
        if not value.strip():
            raise InvalidParameter(f"{name.upper()} must have two arguments")
        return [(key, " ".join(_words(value)))]
    pairs = []
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise InvalidParameter(
                f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value'
            )
        pairs.append((key, value))
    return pairs


def _cmd(state: _State, rest: str) -> None:
    args, exec_form = _json_or_shell("cmd", rest)
    state.config["Cmd"] = args if exec_form else [*_SHELL, *args]
    state.cmd_set = True


def _entrypoint(state: _State, rest: str) -> None:
    args, exec_form = _json_or_shell("entrypoint", rest)
    if exec_form:
        state.config["Entrypoint"] = args
    elif args:
        state.config["Entrypoint"] = [*_SHELL, *args]
    else:
        state.config["Entrypoint"] = None
    if not state.cmd_set:
        state.config["Cmd"] = None  # an ENTRYPOINT resets a CMD not set with it


def _env(state: _State, rest: str) -> None:
    env = list(state.config.get("Env") or [])
    for key, value in _pairs("env", rest):
        entry = f"{key}={value}"
        for index, existing in enumerate(env):
            if existing.partition("=")[0] == key:
                env[index] = entry
                break
        else:
            env.append(entry)
    state.config["Env"] = env


def _label(state: _State, rest: str) -> None:
    labels = dict(state.config.get("Labels") or {})
    labels.update(_pairs("label", rest))
    state.config["Labels"] = labels


_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(\w+))?$")


def _expose(state: _State, rest: str) -> None:
    ports = dict(state.config.get("ExposedPorts") or {})
    words = _words(rest)
    if not words:
        raise InvalidParameter("EXPOSE requires at least one argument")
    for word in words:
        found = _PORT.match(word)
        if found is None:
            raise InvalidParameter(f"Invalid containerPort: {word}")
        first = int(found.group(1))
        last = int(found.group(2) or first)
        proto = (found.group(3) or "tcp").lower()
        if last < first or last > 65535:
            raise InvalidParameter(f"Invalid range specified for the Port: {word}")
        for port in range(first, last + 1):
            ports[f"{port}/{proto}"] = {}
    state.config["ExposedPorts"] = ports


def _user(state: _State, rest: str) -> None:
    if not rest:
        raise InvalidParameter("USER requires exactly one argument")
    state.config["User"] = rest


def _volume(state: _State, rest: str) -> None:
    args, exec_form = _json_or_shell("volume", rest)
    paths = args if exec_form else _words(rest)
    if not paths:
        raise InvalidParameter("VOLUME requires at least one argument")
    volumes = dict(state.config.get("Volumes") or {})
    for path in paths:
        if not path.strip():
            raise InvalidParameter("VOLUME specified can not be an empty string")
        volumes[path.strip()] = {}
    state.config["Volumes"] = volumes


def _workdir(state: _State, rest: str) -> None:
    if not rest:
        raise InvalidParameter("WORKDIR requires exactly one argument")
    current = state.config.get("WorkingDir") or "/"
    state.config["WorkingDir"] = posixpath.normpath(posixpath.join(current, rest))


def _onbuild(state: _State, rest: str) -> None:
    trigger, _, _ = rest.partition(" ")
    upper = trigger.upper()
    if not upper:
        raise InvalidParameter("ONBUILD requires at least one argument")
    if upper == "ONBUILD":
        raise InvalidParameter("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if upper in ("MAINTAINER", "FROM"):
        raise InvalidParameter(f"{upper} isn't allowed as an ONBUILD trigger")
    state.config["OnBuild"] = [*(state.config.get("OnBuild") or []), rest]


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9}
_UNITS["h"] = 3600 * 10**9


def parse_duration(text: str) -> int:
    """A Go duration ("30s", "1m30s") in nanoseconds."""
    if text == "0":
        return 0
    position, total = 0, 0.0
    for found in _DURATION.finditer(text):
        if found.start() != position:
            break
        total += float(found.group(1)) * _UNITS[found.group(2)]
        position = found.end()
    if position != len(text) or not text:
        raise InvalidParameter(f'time: invalid duration "{text}"')
    return int(total)


_HEALTH_FLAGS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "retries": "Retries",
}


def _healthcheck(state: _State, rest: str) -> None:
    options: dict[str, int] = {}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        rest = rest.strip()
        key, _, value = flag[2:].partition("=")
        if key not in _HEALTH_FLAGS:
            raise InvalidParameter(f"Unknown flag: {key}")
        if key == "retries":
            if not (value.isascii() and value.isdigit()):
                raise InvalidParameter(f'strconv.ParseInt: parsing "{value}": invalid syntax')
            options[_HEALTH_FLAGS[key]] = int(value)
        else:
            options[_HEALTH_FLAGS[key]] = parse_duration(value)
    kind, _, args = rest.partition(" ")
    kind = kind.upper()
    if kind == "NONE":
        if args.strip():
            raise InvalidParameter("HEALTHCHECK NONE takes no arguments")
        state.config["Healthcheck"] = {"Test": ["NONE"]}
        return
    if kind != "CMD":
        raise InvalidParameter(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    command, exec_form = _json_or_shell("healthcheck", args.strip())
    if not command:
        raise InvalidParameter("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *command] if exec_form else ["CMD-SHELL", *command]
    state.config["Healthcheck"] = {"Test": test, **options}


_HANDLERS: dict[str, Callable[[_State, str], None]] = {
    "cmd": _cmd,
    "entrypoint": _entrypoint,
    "env": _env,
    "expose": _expose,
    "healthcheck": _healthcheck,
    "label": _label,
    "onbuild": _onbuild,
    "user": _user,
    "volume": _volume,
    "workdir": _workdir,
}


def merge(user: Config, image: Config) -> Config:
    """`user` (the changes) with what it leaves unset taken from `image` (the
    container's config), as dockerd's commit merges them."""
    out = copy.deepcopy(user)
    if not out.get("User"):
        out["User"] = image.get("User") or ""
    ports = dict(image.get("ExposedPorts") or {})
    ports.update(out.get("ExposedPorts") or {})
    out["ExposedPorts"] = ports or None
    env = list(out.get("Env") or [])
    keys = {entry.partition("=")[0] for entry in env}
    env += [entry for entry in image.get("Env") or [] if entry.partition("=")[0] not in keys]
    out["Env"] = env or None
    labels = dict(image.get("Labels") or {})
    labels.update(out.get("Labels") or {})
    out["Labels"] = labels
    if not out.get("Entrypoint"):
        if not out.get("Cmd"):
            out["Cmd"] = image.get("Cmd")
        if out.get("Entrypoint") is None and "Entrypoint" not in user:
            out["Entrypoint"] = image.get("Entrypoint")
    health = image.get("Healthcheck")
    if health:
        mine = out.get("Healthcheck")
        if not mine:
            out["Healthcheck"] = health
        else:
            for key in ("Test", "Interval", "Timeout", "StartPeriod", "Retries"):
                if not mine.get(key) and health.get(key):
                    mine[key] = health[key]
    if not out.get("WorkingDir"):
        out["WorkingDir"] = image.get("WorkingDir") or ""
    volumes = dict(out.get("Volumes") or {})
    volumes.update(image.get("Volumes") or {})
    out["Volumes"] = volumes or None
    if not out.get("StopSignal") and image.get("StopSignal"):
        out["StopSignal"] = image["StopSignal"]
    return out
