"""Streamed uploads that stall are dropped; slow ones are not (issue 12), on a real mooraged.

Image load and import, a build context and an archive upload have no size limit
(nor has dockerd), but a client that sends part of its body and then nothing for
the upload idle timeout (a second here, 60 s by default) is cut off: nothing is
made of what it sent (no image, no spool left, the container's lock released and
no truncated file in it), and ``docker ps`` answers all the while. A client that
keeps sending, however slowly, is served. The clients' own pauses are the
behaviour under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import tarfile
import time
from collections.abc import AsyncIterator

import pytest_asyncio

from api.limits import ServerLimits
from tests.support.buildcontexts import files_tar
from tests.support.containerd import ImportedImage, TestContainerd
from tests.support.daemon import RunningDaemon, running_daemon
from tests.support.imagefactory import docker_save, make_image
from tests.support.resources import back_to, fd_count, settled
from tests.unit.api.support import read_response

IDLE = 1.0
# How long past the timeout the server may take to act on it before the test fails.
GRACE = 10.0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def daemon(
    containerd: TestContainerd, busybox_image: ImportedImage
) -> AsyncIterator[RunningDaemon]:
    limits = ServerLimits(upload_idle_timeout=IDLE)
    async with running_daemon(containerd, busybox_image, limits=limits) as running:
        yield running


def _head(method: str, target: str, length: int, content_type: str) -> bytes:
    return (
        f"{method} {target} HTTP/1.1\r\nHost: docker\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def _closed(reader: asyncio.StreamReader) -> bytes:
    """What the server still sent before it closed the connection."""
    got = bytearray()
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            got += chunk
    return bytes(got)


async def _stall(daemon: RunningDaemon, target: str, body: bytes, content_type: str) -> None:
    """Announce all of `body`, send half of it, then nothing: the server must close the
    connection one idle timeout later, answering `docker ps` meanwhile."""
    reader, writer = await asyncio.open_unix_connection(str(daemon.socket))
    try:
        writer.write(
            _head("PUT" if "archive" in target else "POST", target, len(body), content_type)
        )
        writer.write(body[: len(body) // 2])
        await writer.drain()
        stalled = time.monotonic()
        closed = asyncio.ensure_future(_closed(reader))
        await daemon.docker_ok("ps", "-a")  # another client is served meanwhile
        said = await asyncio.wait_for(closed, IDLE + GRACE)
        assert time.monotonic() - stalled >= IDLE * 0.9
        assert said == b"", said  # no reply: the client is treated as gone
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _tmp_entries(daemon: RunningDaemon) -> set[str]:
    return {p.name for p in daemon.services.images.tmp_dir.iterdir()}


async def _image_ids(daemon: RunningDaemon) -> set[str]:
    return set((await daemon.docker_ok("images", "-aq", "--no-trunc")).split())


async def test_a_stalled_image_load_is_dropped_and_makes_nothing(daemon: RunningDaemon) -> None:
    image = make_image([901, 902], layer_size=400_000)
    archive = docker_save([(image, ["stalled/load:1"])])
    images_before, tmp_before = await _image_ids(daemon), _tmp_entries(daemon)
    fds = await settled(fd_count)
    await _stall(daemon, "/v1.41/images/load", archive, "application/x-tar")
    assert await _image_ids(daemon) == images_before
    assert _tmp_entries(daemon) == tmp_before
    assert await back_to(fd_count, fds) <= fds


async def test_a_stalled_import_is_dropped_and_makes_nothing(daemon: RunningDaemon) -> None:
    rootfs = files_tar({"big": bytes(2_000_000)})
    images_before, tmp_before = await _image_ids(daemon), _tmp_entries(daemon)
    await _stall(
        daemon, "/v1.41/images/create?fromSrc=-&repo=stalled/import", rootfs, "application/x-tar"
    )
    assert await _image_ids(daemon) == images_before
    assert _tmp_entries(daemon) == tmp_before


async def test_a_stalled_build_context_is_dropped_and_makes_nothing(daemon: RunningDaemon) -> None:
    context = files_tar({"Dockerfile": b"FROM busybox\nCOPY big /\n", "big": bytes(2_000_000)})
    images_before, tmp_before = await _image_ids(daemon), _tmp_entries(daemon)
    await _stall(daemon, "/v1.41/build?t=stalled/build", context, "application/x-tar")
    assert await _image_ids(daemon) == images_before
    assert _tmp_entries(daemon) == tmp_before


def _archive_with_a_big_second_file() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, size in (("first", 10), ("second", 2_000_000)):
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(b"x" * size))
    return buffer.getvalue()


async def test_a_stalled_archive_upload_is_dropped_and_frees_the_container(
    daemon: RunningDaemon,
) -> None:
    # A stopped container: the upload holds its lock, so a start would wait for it.
    await daemon.docker_ok("create", "--name", "cp-stalled", "busybox", "sleep", "600")
    try:
        await _stall(
            daemon,
            "/v1.41/containers/cp-stalled/archive?path=/tmp",
            _archive_with_a_big_second_file(),
            "application/x-tar",
        )
        started = time.monotonic()
        await daemon.docker_ok("start", "cp-stalled")
        assert time.monotonic() - started < GRACE
        listing = await daemon.docker_ok("exec", "cp-stalled", "ls", "/tmp")
        # The member complete before the stall stays (as with dockerd, which unpacks as it
        # reads); the one cut short is not left truncated.
        assert listing.split() == ["first"]
    finally:
        await daemon.docker("rm", "-f", "cp-stalled")


async def test_a_slow_but_moving_load_is_served(daemon: RunningDaemon) -> None:
    image = make_image([903], layer_size=200_000)
    archive = docker_save([(image, ["slow/load:1"])])
    pieces = 6
    step = -(-len(archive) // pieces)
    reader, writer = await asyncio.open_unix_connection(str(daemon.socket))
    try:
        started = time.monotonic()
        writer.write(_head("POST", "/v1.41/images/load", len(archive), "application/x-tar"))
        for offset in range(0, len(archive), step):
            writer.write(archive[offset : offset + step])
            await writer.drain()
            await asyncio.sleep(IDLE * 0.5)  # the client's pace: under the timeout each time
        reply = await asyncio.wait_for(read_response(reader), GRACE)
        assert time.monotonic() - started > 2 * IDLE  # longer than the timeout, in all
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert reply.status == 200, reply.body
    assert b"Loaded image: slow/load:1" in reply.body
    await daemon.docker_ok("rmi", "slow/load:1")
