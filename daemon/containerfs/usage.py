"""How much disk a container's own changes take: the size of its upper directory.

Counted as dockerd counts a layer's size: the apparent size of everything but
directories, a file with several links once. The walk is bounded so that one
container with millions of files cannot hold `docker system df` for minutes;
past the bound the count is what was seen so far (an underestimate).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

MAX_ENTRIES = 200_000


def tree_size(path: str, max_entries: int = MAX_ENTRIES) -> int:
    """The size of the files under ``path``, symlinks not followed; 0 if it is gone."""
    total = 0
    seen = 0
    inodes: set[tuple[int, int]] = set()
    # fwalk goes by directory descriptors and never descends through a link: the tree
    # is the container's, and a running one may swap a directory for a link meanwhile.
    # (Links to directories are listed with the directories, so they go uncounted.)
    for _, _, files, dir_fd in os.fwalk(path, follow_symlinks=False):
        for name in files:
            seen += 1
            if seen > max_entries:
                log.debug("size of %s: stopped counting after %d entries", path, max_entries)
                return total
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in inodes:
                    continue
                inodes.add(key)
            total += st.st_size
    return total
