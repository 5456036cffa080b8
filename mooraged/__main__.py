"""`python -m mooraged` and the `mooraged` command run the daemon."""

import gc
import sys


def run() -> int:
    # The cyclic GC is off until the daemon answers (mooraged.main.run turns it back on):
    # start-up makes hundreds of thousands of objects that live as long as the daemon
    # (modules, classes, the restored containers), and collecting while they are made
    # walked them again and again: a tenth of the imports' CPU. Reference counting still
    # frees everything else meanwhile.
    gc.disable()
    # The methods dataclasses and attrs generate come compiled from the last start (a
    # quarter of the imports' CPU); mooraged.main.run goes back to compiling them once the
    # daemon answers.
    from . import compile_cache

    compile_cache.install()
    # aiohttp's client TLS contexts get the CA bundle at the first registry request, not
    # at this import (daemon/images/registry/cabundle.py).
    from daemon.images.registry import cabundle

    with cabundle.deferred():
        import aiohttp  # noqa: F401
    from .main import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
