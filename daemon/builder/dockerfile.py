"""The Dockerfile, parsed by Docker's own parser and split into stages.

The `dockerfile` package wraps the Go parser the classic builder uses, so line
continuations, comments, the `escape` directive, JSON forms and each
instruction's argument split are exactly Docker's. It gives the raw words; what
they mean (flags, variables, quotes) is the dispatcher's job. What the Go
parser accepts but the builder refuses (an unknown instruction, a flag an
instruction does not take, no FROM first) is refused here with dockerd's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import dockerfile as goparser

from daemon import errors

# Flags each instruction takes; any other is refused as dockerd refuses it.
_FLAGS: dict[str, frozenset[str]] = {
    "ADD": frozenset({"chown", "chmod"}),
    "COPY": frozenset({"chown", "from", "chmod"}),
    "FROM": frozenset({"platform"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "retries"}),
    "RUN": frozenset(),
}
INSTRUCTIONS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
DEFAULT_DOCKERFILE_NAMES = ("Dockerfile", "dockerfile")
_ESCAPE = re.compile(r"^#\s*escape\s*=\s*(\S)", re.IGNORECASE)
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    cmd: str  # upper case
    args: tuple[str, ...]
    flags: dict[str, str]
    json: bool
    original: str
    line: int
    sub_cmd: str | None = None  # ONBUILD's instruction
    literal: bool = False  # words taken as they are (the `labels` parameter's LABELs)

    def error(self, message: str) -> errors.InvalidParameter:
        return errors.InvalidParameter(f"dockerfile parse error line {self.line}: {message}")

    @property
    def onbuild_expression(self) -> str:
        """What ONBUILD stores: the line without its keyword."""
        return _ONBUILD_PREFIX.sub("", self.original, count=1)


@dataclass
class Stage:
    base: str  # FROM's image word, unexpanded
    name: str  # the AS name, lower case ("" when none)
    from_: Instruction
    commands: list[Instruction] = field(default_factory=list)


@dataclass
class Parsed:
    meta_args: list[Instruction]  # ARGs before the first FROM
    stages: list[Stage]
    escape: str

    def total_steps(self) -> int:
        return sum(1 + len(stage.commands) for stage in self.stages)


def _flags(cmd: str, raw: tuple[str, ...], line: int) -> dict[str, str]:
    allowed = _FLAGS.get(cmd, frozenset())
    found: dict[str, str] = {}
    for item in raw:
        name, _, value = item[2:].partition("=")
        if name not in allowed:
            raise errors.InvalidParameter(
                f"dockerfile parse error line {line}: Unknown flag: {name}"
            )
        found[name] = value
    return found


def _escape_of(source: str) -> str:
    for text in source.splitlines():
        match = _ESCAPE.match(text)
        if match:
            return match.group(1)
        if not text.startswith("#"):
            break
    return "\\"


def instruction(command: goparser.Command) -> Instruction:
    cmd = str(command.cmd).upper()
    if cmd not in INSTRUCTIONS:
        raise errors.InvalidParameter(
            f"dockerfile parse error line {command.start_line}: unknown instruction: {cmd}"
        )
    sub = str(command.sub_cmd).upper() if command.sub_cmd else None
    if cmd == "ONBUILD":
        if sub is None:
            raise errors.InvalidParameter(
                f"dockerfile parse error line {command.start_line}: ONBUILD requires at least "
                "one argument"
            )
        if sub in ("ONBUILD", "FROM", "MAINTAINER"):
            raise errors.InvalidParameter(
                f"dockerfile parse error line {command.start_line}: {sub} isn't allowed as an "
                "ONBUILD trigger"
            )
    if not command.value and (sub or cmd) not in ("CMD", "ENTRYPOINT", "ONBUILD"):
        raise errors.InvalidParameter(
            f"dockerfile parse error line {command.start_line}: {sub or cmd} requires at least "
            "one argument"
        )
    return Instruction(
        cmd=cmd,
        args=tuple(str(v) for v in command.value),
        flags=_flags(sub or cmd, tuple(command.flags), command.start_line),
        json=bool(command.json),
        original=str(command.original),
        line=int(command.start_line),
        sub_cmd=sub,
    )


def parse(source: str) -> Parsed:
    """Raises InvalidParameter (400) with dockerd's text for a Dockerfile it refuses."""
    try:
        commands = goparser.parse_string(source)
    except goparser.GoParseError as exc:
        raise errors.InvalidParameter(f"failed to parse dockerfile: {exc}") from None
    meta: list[Instruction] = []
    stages: list[Stage] = []
    for command in commands:
        item = instruction(command)
        if item.cmd == "FROM":
            stages.append(_stage(item))
        elif stages:
            stages[-1].commands.append(item)
        elif item.cmd == "ARG":
            meta.append(item)
        else:
            raise errors.InvalidParameter("No build stage in current context")
    if not stages:
        raise errors.InvalidParameter("No build stage in current context")
    return Parsed(meta, stages, _escape_of(source))


def label(key: str, value: str) -> Instruction:
    """A LABEL from the `labels` parameter: no quotes, no variables."""
    return Instruction("LABEL", (key, value), {}, False, f"LABEL {key}={value}", 0, literal=True)


def parse_line(line: str) -> Instruction:
    """One instruction (an ONBUILD trigger, the `labels` parameter's LABEL)."""
    try:
        commands = goparser.parse_string(line)
    except goparser.GoParseError as exc:
        raise errors.InvalidParameter(f"failed to parse dockerfile: {exc}") from None
    if len(commands) != 1:
        raise errors.InvalidParameter(
            f"failed to parse dockerfile: {line!r} is not one instruction"
        )
    return instruction(commands[0])


def _stage(item: Instruction) -> Stage:
    args = item.args
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not re.fullmatch(r"[a-z][a-z0-9-_.]*", name):
            raise item.error(
                f"invalid name for build stage: {args[2]!r}, name can't start "
                "with a number or contain symbols"
            )
        return Stage(args[0], name, item)
    if len(args) != 1:
        raise item.error("FROM requires either one or three arguments")
    return Stage(args[0], "", item)
