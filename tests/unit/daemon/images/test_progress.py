"""Progress lines must match dockerd's byte for byte: the CLI and scripts parse them."""

from __future__ import annotations

import json

from daemon.images import progress


def test_human_size_uses_decimal_units_and_four_digits() -> None:
    assert progress.human_size(0) == "0B"
    assert progress.human_size(527) == "527B"
    assert progress.human_size(1000) == "1kB"
    assert progress.human_size(22456) == "22.46kB"
    assert progress.human_size(1_200_000) == "1.2MB"
    assert progress.human_size(2_218_453) == "2.218MB"
    assert progress.human_size(3_400_000_000) == "3.4GB"
    assert progress.human_size(999_999) == "1000kB"


def test_render_progress_bar() -> None:
    assert progress.render_progress(0, 0) == ""
    start = progress.render_progress(22456, 2218453)
    assert start == "[>" + " " * 50 + "]  22.46kB/2.218MB"
    half = progress.render_progress(1_700_000, 3_400_000)
    assert half == "[" + "=" * 25 + ">" + " " * 25 + "]    1.7MB/3.4MB"
    full = progress.render_progress(3_400_000, 3_400_000)
    assert full == "[" + "=" * 50 + ">]    3.4MB/3.4MB"
    # A current past the total drops the total, as dockerd does for wonky counts.
    assert progress.render_progress(5_000_000, 3_400_000).endswith("]      5MB")
    assert progress.render_progress(1234, 0) == " 1.234kB"
    assert (
        progress.render_progress(3, 10, units="layers")
        == "[" + "=" * 15 + ">" + " " * 35 + "] 3/10 layers"
    )
    assert (
        progress.render_progress(3, 10, hide_counts=True) == "[" + "=" * 15 + ">" + " " * 35 + "] "
    )


def test_pull_lines_exactly_as_dockerd() -> None:
    layer = "sha256:3f4d90098f5b" + "0" * 52
    lid = progress.layer_id(layer)
    assert lid == "3f4d90098f5b"
    assert progress.encode(progress.pulling_from("library/busybox", "latest")) == (
        b'{"status":"Pulling from library/busybox","id":"latest"}\r\n'
    )
    assert progress.layer_progress(lid, progress.PULLING_FS_LAYER) == (
        b'{"status":"Pulling fs layer","progressDetail":{},"id":"3f4d90098f5b"}\r\n'
    )
    downloading = progress.layer_progress(lid, progress.DOWNLOADING, 22456, 2218453)
    assert downloading == (
        b'{"status":"Downloading","progressDetail":{"current":22456,"total":2218453},'
        b'"progress":"[\\u003e' + b" " * 50 + b']  22.46kB/2.218MB","id":"3f4d90098f5b"}\r\n'
    )
    for action in (
        progress.VERIFYING_CHECKSUM,
        progress.DOWNLOAD_COMPLETE,
        progress.PULL_COMPLETE,
        progress.ALREADY_EXISTS,
        progress.WAITING,
    ):
        line = progress.layer_progress(lid, action)
        assert json.loads(line) == {"status": action, "progressDetail": {}, "id": lid}
    extracting = json.loads(progress.layer_progress(lid, progress.EXTRACTING, 32768, 2218453))
    assert extracting["progress"].startswith("[>")
    assert progress.encode(progress.digest_line("sha256:" + "a" * 64)) == (
        b'{"status":"Digest: sha256:' + b"a" * 64 + b'"}\r\n'
    )
    assert progress.encode(progress.pull_result("busybox:latest", updated=True)) == (
        b'{"status":"Status: Downloaded newer image for busybox:latest"}\r\n'
    )
    assert progress.encode(progress.pull_result("busybox:latest", updated=False)) == (
        b'{"status":"Status: Image is up to date for busybox:latest"}\r\n'
    )


def test_load_push_and_error_lines() -> None:
    assert progress.encode(progress.loaded_image("busybox:latest")) == (
        b'{"stream":"Loaded image: busybox:latest\\n"}\r\n'
    )
    assert progress.encode(progress.loaded_image_id("sha256:" + "b" * 64)) == (
        b'{"stream":"Loaded image ID: sha256:' + b"b" * 64 + b'\\n"}\r\n'
    )
    assert progress.error("manifest unknown") == (
        b'{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}\r\n'
    )
    assert progress.encode(progress.push_refers_to("docker.io/library/busybox")) == (
        b'{"status":"The push refers to repository [docker.io/library/busybox]"}\r\n'
    )
    digest = "sha256:" + "c" * 64
    pushed = b"".join(progress.encode(m) for m in progress.push_result("latest", digest, 527))
    lines = pushed.split(b"\r\n")
    assert lines[0] == b'{"status":"latest: digest: ' + digest.encode() + b' size: 527"}'
    assert lines[1] == (
        b'{"progressDetail":{},"aux":{"Tag":"latest","Digest":"'
        + digest.encode()
        + b'","Size":527}}'
    )
    assert json.loads(progress.encode(progress.mounted_from("abc", "library/x")))["status"] == (
        "Mounted from library/x"
    )


def test_go_style_escaping_and_utf8() -> None:
    line = progress.status("a <b> & c é")
    assert line == '{"status":"a \\u003cb\\u003e \\u0026 c é"}\r\n'.encode()
    assert json.loads(line)["status"] == "a <b> & c é"


def test_throttle_lets_the_final_count_through() -> None:
    throttle = progress.ProgressThrottle(interval=3600)
    assert throttle.due(1, 100)
    assert not throttle.due(2, 100)
    assert throttle.due(100, 100)
