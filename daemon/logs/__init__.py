"""Container logs: the json-file driver, its reader and the stdio copier.

``config`` checks a container's ``LogConfig``; ``jsonfile`` writes entries the
way dockerd's json-file driver does; ``reader`` reads them back for
``docker logs`` (tail, since/until, follow); ``copier`` moves a process's
output into the log and to attached clients.
"""

from daemon.logs.config import (
    DEFAULT_DRIVER,
    JsonFileOptions,
    LogOptionError,
    ReadingNotSupported,
    ensure_readable,
    validate_log_config,
)
from daemon.logs.copier import Sink, copy_stream
from daemon.logs.entry import LogEntry
from daemon.logs.jsonfile import JsonFileWriter
from daemon.logs.reader import read_logs

__all__ = [
    "DEFAULT_DRIVER",
    "JsonFileOptions",
    "JsonFileWriter",
    "LogEntry",
    "LogOptionError",
    "ReadingNotSupported",
    "Sink",
    "copy_stream",
    "ensure_readable",
    "read_logs",
    "validate_log_config",
]
