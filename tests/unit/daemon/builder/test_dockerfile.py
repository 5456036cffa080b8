"""The parser adapter: Docker's own parser, then dockerd's refusals (pure logic)."""

from __future__ import annotations

import pytest

from daemon import errors
from daemon.builder.dockerfile import parse, parse_line


def test_stages_meta_args_and_escape() -> None:
    parsed = parse(
        "# escape=`\nARG V=1\nFROM busybox:${V} AS Base\nRUN echo a `\n  b\nFROM base\nCMD x\n"
    )
    assert parsed.escape == "`"
    assert [item.original for item in parsed.meta_args] == ["ARG V=1"]
    assert [(s.base, s.name) for s in parsed.stages] == [("busybox:${V}", "base"), ("base", "")]
    run = parsed.stages[0].commands[0]
    assert (run.cmd, run.args, run.line) == ("RUN", ("echo a   b",), 4)
    assert parsed.total_steps() == 4


def test_flags_and_json_forms() -> None:
    parsed = parse('FROM x\nCOPY --from=a --chown=1:2 s d\nCMD ["a", "b"]\n')
    copy, cmd = parsed.stages[0].commands
    assert copy.flags == {"from": "a", "chown": "1:2"}
    assert (cmd.json, cmd.args) == (True, ("a", "b"))


LINE = "dockerfile parse error line "


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("FROM x\nFOO y\n", "dockerfile parse error line 2: unknown instruction: FOO"),
        ("FROM x\nRUN --mount=a b\n", "dockerfile parse error line 2: Unknown flag: mount"),
        ("RUN x\n", "No build stage in current context"),
        ("FROM a b\n", f"{LINE}1: FROM requires either one or three arguments"),
        ("FROM x\nONBUILD FROM y\n", f"{LINE}2: FROM isn't allowed as an ONBUILD trigger"),
        ("# nothing\n", "failed to parse dockerfile: file with no instructions"),
        ("FROM x\nSTOPSIGNAL\n", f"{LINE}2: STOPSIGNAL requires at least one argument"),
    ],
)  # fmt: skip
def test_refusals_are_400_with_dockerd_text(source: str, message: str) -> None:
    with pytest.raises(errors.InvalidParameter) as refused:
        parse(source)
    assert refused.value.message == message


def test_onbuild_expression_keeps_the_line_without_its_keyword() -> None:
    item = parse("FROM x\nonbuild   RUN echo $A\n").stages[0].commands[0]
    assert (item.sub_cmd, item.onbuild_expression) == ("RUN", "RUN echo $A")
    assert parse_line(item.onbuild_expression).args == ("echo $A",)
