"""The daemon's own log lines, in dockerd's logfmt shape: time="…" level=info msg="…"."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds")
        level = "warning" if record.levelno == logging.WARNING else record.levelname.lower()
        # Quoted as JSON strings: messages may hold quotes, and must stay one line.
        line = f"time={json.dumps(stamp)} level={level} msg={json.dumps(record.getMessage())}"
        if record.name != "root":
            line += f" logger={record.name}"
        if record.exc_info:
            line += f" error={json.dumps(self.formatException(record.exc_info))}"
        return line


class JsonFormatter(logging.Formatter):
    """dockerd's --log-format json: one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds")
        level = "warning" if record.levelno == logging.WARNING else record.levelname.lower()
        entry = {"level": level, "msg": record.getMessage(), "time": stamp}
        if record.name != "root":
            entry["logger"] = record.name
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else LogfmtFormatter())
    logging.getLogger().handlers[:] = [handler]
    set_level(level)


def set_level(level: str) -> None:
    """The daemon's log level, at start and when a reload changes it."""
    logging.getLogger().setLevel(LEVELS.get(level, logging.INFO))
    # Every API call is logged only when debugging, as dockerd does.
    logging.getLogger("aiohttp.access").setLevel(
        logging.DEBUG if level == "debug" else logging.WARNING
    )
    # The HTTP/2 header codec under the gRPC client logs every header at debug level.
    logging.getLogger("hpack").setLevel(logging.INFO)
