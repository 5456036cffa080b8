"""The garbage collector after start-up (issue 13: list and inspect p99 with 200 containers).

What exists once the daemon serves (modules, routes, pydantic models, the restored
containers) lives as long as the process. A full collection walks every tracked object
(~100k of them), and lands on whatever request is running: measured with
``gc.callbacks`` under `bench/lifecycle.py --scale 200` on the shared 2-core machine,
full collections while serving took up to 350 ms unfrozen, 22 ms frozen (~20k objects
left to walk). Frozen, they are left out of every collection; what requests make
afterwards is collected as before. Garbage cycles present at the freeze stay (start-up
leaves few: it is not collected first, which would cost start-up a full collection).
"""

from __future__ import annotations

import gc


def settle_after_startup() -> None:
    """Freeze what start-up made, then turn the collector back on.

    It has been off since the process started (mooraged/__main__.py), so start-up's
    objects were never walked while being made; frozen, they are never walked again.
    """
    gc.freeze()
    gc.enable()
