"""The json-file log driver's writer: one JSON object per line, rotated by size.

Everything runs on the event loop's thread. Each `write` call turns into at
most a few ``write(2)`` calls to the page cache (no fsync), so it does not
stall the loop; followers in the same process are woken through `changed()`
instead of polling the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping

from daemon.logs.config import JsonFileOptions
from daemon.logs.entry import encode_entry

log = logging.getLogger(__name__)

# dockerd's copier cuts a line that fills its 16 KiB buffer into partial entries.
MAX_ENTRY_BYTES = 16 * 1024
_FILE_MODE = 0o640


class JsonFileWriter:
    """Appends a container's output to ``path``, rotating into ``path.1`` .. ``path.N-1``.

    `write` is a copier sink: complete lines become entries at once, a trailing
    partial line waits for its newline, for `write(stream, b"")` (end of that
    stream) or for `flush`/`close`, and is then written as-is, without a newline.
    """

    def __init__(
        self, path: str, max_size: int | None = None, max_file: int = 1, compress: bool = False
    ) -> None:
        # compress is accepted for LogConfig compatibility; rotated files stay plain.
        del compress
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self._fd = self._open(truncate=False)
        self._size = os.fstat(self._fd).st_size
        self._pending: dict[str, bytearray] = {}
        self._generation = 0
        self._closed = False
        # Made when a follower asks for it: an Event (with its deque, ~0.8 kB) per running
        # container and per write that nobody follows was memory and CPU for nothing.
        self._changed: asyncio.Event | None = None

    @classmethod
    def from_options(cls, path: str, options: Mapping[str, str]) -> JsonFileWriter:
        """A writer for a container's LogConfig.Config; LogOptionError if it is invalid."""
        opts = JsonFileOptions.parse(options)
        return cls(path, opts.max_size, opts.max_file, opts.compress)

    @property
    def generation(self) -> int:
        """How many times the file has been rotated since this writer opened it."""
        return self._generation

    @property
    def closed(self) -> bool:
        return self._closed

    def changed(self) -> asyncio.Event:
        """An event set at the next write, rotation or close.

        Take it before reading to the end of the file; if it is set afterwards,
        something happened after that read.
        """
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def write(self, stream: str, data: bytes) -> None:
        """Log output of `stream`; empty `data` means the stream ended."""
        if self._closed:
            return
        pending = self._pending.setdefault(stream, bytearray())
        if not data:
            self._emit(stream, [bytes(pending)] if pending else [])
            pending.clear()
            return
        pending += data
        chunks: list[bytes] = []
        start = 0
        while start < len(pending):
            newline = pending.find(b"\n", start, start + MAX_ENTRY_BYTES)
            if newline >= 0:
                chunks.append(bytes(pending[start : newline + 1]))
                start = newline + 1
            elif len(pending) - start >= MAX_ENTRY_BYTES:
                chunks.append(bytes(pending[start : start + MAX_ENTRY_BYTES]))
                start += MAX_ENTRY_BYTES
            else:
                break
        del pending[:start]
        self._emit(stream, chunks)

    def flush(self) -> None:
        """Write every stream's partial line as it is."""
        for stream in list(self._pending):
            self.write(stream, b"")

    def close(self) -> None:
        """Flush, close the file and wake followers so they finish."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._notify()

    def _emit(self, stream: str, chunks: list[bytes]) -> None:
        if not chunks:
            return
        batch = bytearray()
        try:
            for chunk in chunks:
                # dockerd checks before each entry, so a file may pass max-size by one entry.
                if self.max_size is not None and self._size + len(batch) >= self.max_size:
                    self._write_out(batch)
                    batch.clear()
                    self._rotate()
                batch += encode_entry(stream, chunk, time.time_ns())
            self._write_out(batch)
        except OSError as exc:
            # Like dockerd: a failed write loses that output but not the ones after it.
            log.error("Failed to write log entry to %s: %s", self.path, exc)
        self._notify()

    def _write_out(self, data: bytearray) -> None:
        if self._fd < 0:
            # A rotation could not open the new file; try again now.
            self._fd = self._open(truncate=False)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            self._size += written
            view = view[written:]

    def _rotate(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            # Never left holding a closed descriptor number that may be reused.
            self._fd = -1
        # Someone may have removed files under us; rotation goes on regardless.
        with contextlib.suppress(FileNotFoundError):
            if self.max_file > 1:
                for index in range(self.max_file - 1, 1, -1):
                    older = f"{self.path}.{index - 1}"
                    if os.path.exists(older):
                        os.replace(older, f"{self.path}.{index}")
                os.replace(self.path, f"{self.path}.1")
            else:
                # A new inode rather than truncating in place, so a reader still
                # on the old file reads it to its end.
                os.unlink(self.path)
        self._generation += 1
        self._size = 0
        self._fd = self._open(truncate=True)

    def _open(self, *, truncate: bool) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        return os.open(self.path, flags | (os.O_TRUNC if truncate else 0), _FILE_MODE)

    def _notify(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()
