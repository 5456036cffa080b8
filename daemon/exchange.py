"""renameat2(2)'s RENAME_EXCHANGE, which Python's os module does not offer: two names
trade their files in one atomic step, and both stay."""

from __future__ import annotations

import ctypes
import errno
import os

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
# The process's own symbols (libc's among them): ctypes.util.find_library would run
# `ldconfig -p` at the daemon's start.
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)  # glibc 2.28 and later
if _renameat2 is not None:
    _renameat2.argtypes = (
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    )
    _renameat2.restype = ctypes.c_int
# The exchange cannot be made: a name that does not exist, or a filesystem, kernel or
# libc without it. The caller then does without.
_UNAVAILABLE = frozenset({errno.ENOENT, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})


def exchange(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> bool:
    """Swap the files named `first` and `second`; False when the swap is not possible
    (either name missing, or no support for it), OSError for any other failure."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE):
        code = ctypes.get_errno()
        if code in _UNAVAILABLE:
            return False
        raise OSError(code, os.strerror(code), first, None, second)
    return True
