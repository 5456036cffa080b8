"""mooraged's log lines stay one logfmt line whatever the message holds."""

from __future__ import annotations

import json
import logging
import re

from daemon.logsetup import LogfmtFormatter


def _line(message: str, level: int = logging.INFO) -> str:
    record = logging.LogRecord("mooraged", level, __file__, 1, message, None, None)
    return LogfmtFormatter().format(record)


def test_quotes_and_newlines_stay_inside_msg() -> None:
    line = _line('GET "/v1.41/version"\nnext')
    assert "\n" not in line
    match = re.fullmatch(r'time="([^"]+)" level=info msg=(".*") logger=mooraged', line)
    assert match is not None
    assert json.loads(match.group(2)) == 'GET "/v1.41/version"\nnext'
    assert match.group(1).endswith("+00:00")


def test_levels_use_dockerds_names() -> None:
    assert " level=warning " in _line("x", logging.WARNING)
    assert " level=error " in _line("x", logging.ERROR)
