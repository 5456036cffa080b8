"""The system's CA bundle in aiohttp's default client TLS contexts, read at the first
registry request rather than when aiohttp is imported.

aiohttp (3.14) makes its two default client contexts (`ssl=True` and `ssl=False`, the
ones the registry client uses) at import, and each reads and parses the CA bundle:
~60 ms of CPU, a tenth of the daemon's start-up imports (issue 13), spent before the
first `/_ping` by a daemon that may never pull. `deferred()` wraps the process's first
import of aiohttp (mooraged/__main__.py) so that the contexts are made without their
CAs; `ready()`, awaited by every registry client before its first request, gives them
the CAs (once, in a thread). Without `deferred()` (aiohttp imported elsewhere first, as
in the tests), `ready()` has nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator

_pending: list[ssl.SSLContext] = []
_lock = threading.Lock()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Contexts made meanwhile that would read the default CA paths (what
    `ssl.create_default_context()` and `set_default_verify_paths()` do) are noted
    instead, for `load()`; no other setting of theirs changes."""
    real = ssl.SSLContext.set_default_verify_paths

    def note(context: ssl.SSLContext) -> None:
        with _lock:
            _pending.append(context)

    setattr(ssl.SSLContext, "set_default_verify_paths", note)  # noqa: B010 (a method)
    try:
        yield
    finally:
        setattr(ssl.SSLContext, "set_default_verify_paths", real)  # noqa: B010


def load() -> None:
    """The default CA paths read into every context `deferred()` noted (blocking I/O)."""
    with _lock:
        for context in _pending:
            context.set_default_verify_paths()
        _pending.clear()  # only now: `ready()` reads an empty list as "all loaded"


async def ready() -> None:
    """`load()` off the loop, when anything is pending; at once otherwise."""
    if _pending:
        await asyncio.to_thread(load)
