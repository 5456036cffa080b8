"""Docker's JSON progress stream: the lines pull, push and load send to clients.

The docker CLI renders these lines itself, and scripts parse them, so their
shape follows dockerd byte for byte: Go's field order, Go's escaping of <, >
and &, `progressDetail` present (maybe `{}`) on every per-layer line, the
server-side progress bar (50 cells, since the daemon has no terminal), sizes in
decimal units with four significant digits, and CRLF after every message.
"""

from __future__ import annotations

import json
import time
from typing import Any

from daemon.images.reference import short_id

NEWLINE = b"\r\n"
BAR_CELLS = 50
_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")

# Per-layer actions, as dockerd spells them.
WAITING = "Waiting"
PULLING_FS_LAYER = "Pulling fs layer"
DOWNLOADING = "Downloading"
VERIFYING_CHECKSUM = "Verifying Checksum"
DOWNLOAD_COMPLETE = "Download complete"
EXTRACTING = "Extracting"
PULL_COMPLETE = "Pull complete"
ALREADY_EXISTS = "Already exists"
PREPARING = "Preparing"
PUSHING = "Pushing"
PUSHED = "Pushed"
LAYER_ALREADY_EXISTS = "Layer already exists"
LOADING_LAYER = "Loading layer"


def human_size(size: float) -> str:
    """`1.235MB`, `22.46kB`, `527B`: base 1000, at most four significant digits."""
    unit = 0
    while size >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.4g}{_UNITS[unit]}"


def render_progress(current: int, total: int, *, units: str = "", hide_counts: bool = False) -> str:
    """The `progress` text: `[=====>      ]  1.2MB/3.4MB`; empty when there is nothing to show."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}" if not units else f"{current} {units}"
    filled = min(int(current / total * 100) // 2, BAR_CELLS)
    bar = "[" + "=" * filled + ">" + " " * max(BAR_CELLS - filled, 0) + "] "
    if hide_counts:
        numbers = ""
    elif not units:
        numbers = f"{human_size(current):>8}"
        if current <= total:
            numbers += "/" + human_size(total)
    else:
        numbers = f"{current}/{total} {units}" if current <= total else f"{current} {units}"
    return bar + numbers


def encode(message: dict[str, Any]) -> bytes:
    """One message as dockerd writes it: compact JSON with Go's HTML escaping, then CRLF."""
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    text = (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return text.encode() + NEWLINE


def status_message(text: str, id: str | None = None) -> dict[str, Any]:
    """A plain status message: `{"status":"Digest: sha256:..."}`, optionally with an id."""
    message: dict[str, Any] = {"status": text}
    if id:
        message["id"] = id
    return message


def status(text: str, id: str | None = None) -> bytes:
    return encode(status_message(text, id))


def layer_progress_message(
    id: str,
    action: str,
    current: int = 0,
    total: int = 0,
    *,
    units: str = "",
    hide_counts: bool = False,
) -> dict[str, Any]:
    """A per-layer message; `id` is the 12-hex short digest (see `layer_id`)."""
    detail: dict[str, Any] = {}
    if current:
        detail["current"] = current
    if total:
        detail["total"] = total
    if hide_counts:
        detail["hidecounts"] = True
    if units:
        detail["units"] = units
    message: dict[str, Any] = {"status": action, "progressDetail": detail}
    bar = render_progress(current, total, units=units, hide_counts=hide_counts)
    if bar:
        message["progress"] = bar
    if id:
        message["id"] = id
    return message


def layer_progress(
    id: str,
    action: str,
    current: int = 0,
    total: int = 0,
    *,
    units: str = "",
    hide_counts: bool = False,
) -> bytes:
    return encode(
        layer_progress_message(id, action, current, total, units=units, hide_counts=hide_counts)
    )


def aux_message(payload: dict[str, Any]) -> dict[str, Any]:
    return {"progressDetail": {}, "aux": payload}


def aux(payload: dict[str, Any]) -> bytes:
    """An aux line, e.g. the one ending a push: `{"progressDetail":{},"aux":{"Tag":...}}`."""
    return encode(aux_message(payload))


def stream_message(text: str) -> dict[str, Any]:
    return {"stream": text}


def stream(text: str) -> bytes:
    """Free text for the client's stdout: `{"stream":"Loaded image: busybox:latest\\n"}`."""
    return encode(stream_message(text))


def error_message(message: str) -> dict[str, Any]:
    return {"errorDetail": {"message": message}, "error": message}


def error(message: str) -> bytes:
    """The error line that ends a failed stream; the CLI prints `message` and exits 1."""
    return encode(error_message(message))


def layer_id(digest: str) -> str:
    """The id shown for a layer: its digest's first 12 hex digits."""
    return short_id(digest)


def pulling_from(familiar_repo: str, tag_or_digest: str) -> dict[str, Any]:
    """First line of a pull: `{"status":"Pulling from library/busybox","id":"latest"}`."""
    return status_message(f"Pulling from {familiar_repo}", tag_or_digest)


def digest_line(digest: str) -> dict[str, Any]:
    return status_message(f"Digest: {digest}")


def pull_result(familiar_ref: str, *, updated: bool) -> dict[str, Any]:
    if updated:
        return status_message(f"Status: Downloaded newer image for {familiar_ref}")
    return status_message(f"Status: Image is up to date for {familiar_ref}")


def push_refers_to(full_repo: str) -> dict[str, Any]:
    return status_message(f"The push refers to repository [{full_repo}]")


def push_result(tag: str, digest: str, size: int) -> list[dict[str, Any]]:
    """The two closing lines of a push: the digest summary and its aux record."""
    return [
        status_message(f"{tag}: digest: {digest} size: {size}"),
        aux_message({"Tag": tag, "Digest": digest, "Size": size}),
    ]


def mounted_from(id: str, from_repo: str) -> dict[str, Any]:
    return layer_progress_message(id, f"Mounted from {from_repo}")


def loaded_image(familiar_ref: str) -> dict[str, Any]:
    return stream_message(f"Loaded image: {familiar_ref}\n")


def loaded_image_id(image_id: str) -> dict[str, Any]:
    return stream_message(f"Loaded image ID: {image_id}\n")


class ProgressThrottle:
    """Decides when a byte-count update is worth a line, so a fast copy is not all progress.

    One line per `interval` seconds at most, except that the final count always goes out.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self._interval = interval
        self._last = float("-inf")

    def due(self, current: int, total: int) -> bool:
        now = time.monotonic()
        if (total and current >= total) or now - self._last >= self._interval:
            self._last = now
            return True
        return False
