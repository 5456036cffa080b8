"""Detach keys: the key sequence that ends an attach (or an exec's stream) on a terminal
while the process goes on.

The syntax is dockerd's (and the CLI config file's ``detachKeys``): comma-separated
keys, each one character, ``ctrl-<c>`` for the control characters ``ctrl-@`` ..
``ctrl-_``, or ``DEL``. As in dockerd, only an attach of a terminal (the container's
or the exec's Tty) with stdin watches for it.
"""

from __future__ import annotations

# ctrl-p, ctrl-q
DEFAULT_DETACH_KEYS = b"\x10\x11"

# ctrl-@ is 0, ctrl-a 1, ... ctrl-_ 31.
_CONTROL_NAMES = {f"ctrl-{chr(0x40 + code).lower()}": code for code in range(32)}
_DEL = 127


def parse_detach_keys(spec: str) -> bytes:
    """The bytes `spec` names; ValueError for a key it cannot name. Empty: the default."""
    if not spec:
        return DEFAULT_DETACH_KEYS
    codes = bytearray()
    for key in spec.split(","):
        raw = key.encode()
        if len(raw) == 1:  # one byte, as dockerd counts
            codes += raw
        elif key in _CONTROL_NAMES:
            codes.append(_CONTROL_NAMES[key])
        elif key == "DEL":
            codes.append(_DEL)
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(codes)


class DetachScanner:
    """Watches stdin for the detach sequence.

    `feed` returns the bytes that may go on to the process. Bytes that could begin
    the sequence are held back until the sequence completes (then they are dropped
    and `detached` is set) or breaks (then they go on, ahead of what broke it). The
    byte that breaks a partial match is not itself taken as a new start, as in dockerd.
    """

    def __init__(self, keys: bytes) -> None:
        self._keys = keys
        self._matched = 0
        self.detached = False

    def feed(self, data: bytes) -> bytes:
        if self.detached or not self._keys:
            return b"" if self.detached else data
        out = bytearray()
        for byte in data:
            if byte == self._keys[self._matched]:
                self._matched += 1
                if self._matched == len(self._keys):
                    self.detached = True
                    return bytes(out)
                continue
            out += self._keys[: self._matched]
            out.append(byte)
            self._matched = 0
        return bytes(out)
