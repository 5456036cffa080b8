"""Reading a small file whole with three kinds of system call: open, read, close.

Python's `open()` builds a file object (a raw file, a buffer, for text a decoder) and
asks the kernel more on the way: fstat twice (block size, then the size to read),
TCGETS (whether it is a terminal) and lseek once or twice. A container's lifecycle
read ~12 small files that way (the host's resolv.conf, the etc files compared before
a rewrite, the image's passwd and group at create and at start, /proc/stat for the
stats, the memory cgroup's OOM count at an exit by SIGKILL): ~55 system calls of its
~750 in the daemon (`bench.profile --strace`, issue 13).
"""

from __future__ import annotations

import locale
import os

_CHUNK = 64 * 1024
# What `open(path)` decodes text with (the locale's, UTF-8 in Python's UTF-8 mode).
_ENCODING = locale.getpreferredencoding(False)


def read_fd(fd: int) -> bytes:
    """Everything left in `fd`, read until end of file (a /proc file may answer a read
    with less than it holds, so a short read is not the end)."""
    first = os.read(fd, _CHUNK)
    if not first:
        return first
    chunks = [first]
    while chunk := os.read(fd, _CHUNK):
        chunks.append(chunk)
    return b"".join(chunks) if len(chunks) > 1 else first


def read_bytes(path: str) -> bytes:
    """The file's bytes; OSError (FileNotFoundError, ...) as `open()` raises it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return read_fd(fd)
    finally:
        os.close(fd)


def read_text(path: str) -> str:
    """The file's text as `open(path).read()` gives it: decoded as `open()` does, with
    universal newlines ("\\r\\n" and "\\r" read as "\\n")."""
    text = read_bytes(path).decode(_ENCODING)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text
