"""Hypothesis fuzz of what parses untrusted bytes: tar streams, image archives, manifests.

Each parser is fed both noise and inputs built to be nearly right (real tars with
random members, then cut or flipped; archives with random manifest.json, index.json,
links and blobs; JSON documents shaped like manifests), so that the search reaches
past the first check. The properties:

* only the parser's own error comes out (TarFormatError, ImageArchiveError,
  ManifestError, InvalidReferenceError), never another exception;
* every example finishes within the deadline (no hang, no runaway loop);
* a tar stream reads back what tarfile wrote, and a member's data never exceeds
  its size;
* an archive writes nothing outside its spool directory, and no links at all.

Short mode (CI): ``EXAMPLES`` examples per property. ``MOORAGE_FUZZ=long``
(``scripts/fuzz.sh long``) runs ``LONG_EXAMPLES``. Counts are printed with ``-s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.images.archive import ImageArchiveError, read_image_archive
from daemon.images.manifest import (
    Index,
    ManifestError,
    parse_image_config,
    parse_manifest,
    select_manifest,
)
from daemon.images.reference import (
    InvalidReferenceError,
    parse_docker_ref,
    parse_normalized_named,
)
from daemon.tario import TarFormatError, TarReader
from tests.unit.fuzz.seeds import seed_inputs
from wire.json_syntax import go_syntax_error

LONG = os.environ.get("MOORAGE_FUZZ") == "long"
# MOORAGE_FUZZ_EXAMPLES sets the count for a run in between.
EXAMPLES = int(os.environ.get("MOORAGE_FUZZ_EXAMPLES", 20_000 if LONG else 150))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),  # a hang fails the example instead of the run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
    derandomize=not LONG,  # CI runs the same examples every time
)

COUNTS: dict[str, int] = {}


def _count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Any:
    yield
    print("\nparser fuzz examples:", ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items())))


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# -- tar building blocks --------------------------------------------------------------------

_names = st.text(
    alphabet=st.sampled_from("abc./-_x\u00e9\x00 "), min_size=0, max_size=120
) | st.sampled_from(["manifest.json", "index.json", "oci-layout", "repositories", "blobs/sha256/"])
_members = st.lists(
    st.tuples(
        _names,
        st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
                         tarfile.FIFOTYPE, tarfile.CHRTYPE]),
        st.binary(max_size=1500),
        _names,
    ),
    max_size=6,
)  # fmt: skip


def _tar(members: list[tuple[str, bytes, bytes, str]], fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, kind, data, link in members:
            info = tarfile.TarInfo(name.replace("\x00", "") or "x")
            info.type = kind
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.linkname = link.replace("\x00", "")
                tar.addfile(info)
    return out.getvalue()


def _mutate(data: bytes, cuts: list[tuple[int, int]], truncate: int | None) -> bytes:
    buf = bytearray(data)
    for position, value in cuts:
        if buf:
            buf[position % len(buf)] = value
    if truncate is not None and buf:
        del buf[truncate % len(buf) :]
    return bytes(buf)


_formats = st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
_flips = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=4)


async def _read_tar(data: bytes, chunk: int) -> list[tuple[str, int, bytes]]:
    found = []
    reader = TarReader(_chunks(data, chunk))
    async for member in reader.members():
        body = b"".join([c async for c in reader.chunks()])
        assert len(body) == member.size or member.type.value != "file"
        assert len(body) <= max(member.size, 0)
        found.append((member.name, member.size, body))
    return found


# -- tar streams ------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=4096), st.integers(1, 700))
def test_tar_reader_on_noise(data: bytes, chunk: int) -> None:
    _count("tar noise")
    with contextlib.suppress(TarFormatError):
        asyncio.run(_read_tar(data, chunk))


@FUZZ
@given(_members, _formats, _flips, st.none() | st.integers(0, 1 << 20), st.integers(1, 700))
def test_tar_reader_on_damaged_tars(
    members: list[tuple[str, bytes, bytes, str]],
    fmt: int,
    flips: list[tuple[int, int]],
    truncate: int | None,
    chunk: int,
) -> None:
    _count("tar damaged")
    data = _mutate(_tar(members, fmt), flips, truncate)
    with contextlib.suppress(TarFormatError):
        asyncio.run(_read_tar(data, chunk))


@FUZZ
@given(_members, _formats, st.integers(1, 700))
def test_tar_reader_reads_back_what_tarfile_wrote(
    members: list[tuple[str, bytes, bytes, str]], fmt: int, chunk: int
) -> None:
    _count("tar round trip")
    data = _tar(members, fmt)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        expected = [
            (m.name + ("/" if m.isdir() and fmt != tarfile.USTAR_FORMAT else ""), m.size)
            for m in tar.getmembers()
        ]
    got = asyncio.run(_read_tar(data, chunk))
    assert [(n.rstrip("/"), s) for n, s, _ in got] == [(n.rstrip("/"), s) for n, s in expected]


_pax_keys = st.sampled_from(["size", "path", "linkpath", "mtime", "uid", "comment", ""])
_pax_values = (
    st.text(max_size=12)
    | st.integers(-(10**30), 10**30).map(str)
    | st.sampled_from(["-5", " 7", "1_000", "\u0661", "+3", "0x10"])
)


def _pax_tar(records: dict[str, str], data: bytes) -> bytes:
    """One file member behind a pax header holding exactly `records` (however wrong)."""
    body = b"".join(_pax_record(k, v) for k, v in records.items())
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, len(body)
    out = io.BytesIO()
    out.write(pax.tobuf(tarfile.USTAR_FORMAT) + body + bytes(-len(body) % 512))
    member = tarfile.TarInfo("file")
    member.size = len(data)
    out.write(member.tobuf(tarfile.USTAR_FORMAT) + data + bytes(-len(data) % 512))
    return out.getvalue() + bytes(1024)


def _pax_record(key: str, value: str) -> bytes:
    payload = f" {key}={value}\n".encode("utf-8", "surrogatepass")
    length = len(payload)
    while len(str(length).encode()) + len(payload) != length:
        length = len(str(length).encode()) + len(payload)
    return str(length).encode() + payload


@FUZZ
@given(st.dictionaries(_pax_keys, _pax_values, max_size=3), st.binary(max_size=700))
def test_tar_reader_on_pax_records(records: dict[str, str], data: bytes) -> None:
    _count("tar pax")
    size = records.get("size")
    try:
        members = asyncio.run(_read_tar(_pax_tar(records, data), 512))
    except TarFormatError:
        return
    # A size is taken only as Go's reader takes it: plain ASCII digits.
    assert size is None or (size.isascii() and size.isdigit())
    assert members[0][1] == (len(data) if size is None else int(size))


# -- image archives ----------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
_digest = st.sampled_from(["sha256:" + "a" * 64, "sha256:" + "0" * 64, "sha256:xyz", "", "md5:1"])
_descriptor = st.fixed_dictionaries(
    {},
    optional={
        "mediaType": st.sampled_from([
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.layer.v1.tar+gzip", "text/plain"]),
        "digest": _digest,
        "size": st.integers(-5, 1 << 40),
        "platform": st.fixed_dictionaries(
            {}, optional={"os": st.sampled_from(["linux", "windows", ""]),
                          "architecture": st.sampled_from(["amd64", "arm64", "", "x"]),
                          "variant": st.text(max_size=4)}),
        "annotations": st.dictionaries(
            st.sampled_from(["org.opencontainers.image.ref.name", "io.containerd.image.name"]),
            st.text(max_size=40), max_size=2),
    },
)  # fmt: skip
_manifest_like = st.fixed_dictionaries(
    {},
    optional={
        "schemaVersion": st.sampled_from([1, 2, 3, "2", None]),
        "mediaType": _descriptor.map(lambda d: d.get("mediaType", "")),
        "config": _descriptor,
        "layers": st.lists(_descriptor, max_size=3),
        "manifests": st.lists(_descriptor, max_size=3),
    },
)  # fmt: skip
_config_like = st.fixed_dictionaries(
    {},
    optional={
        "architecture": st.sampled_from(["amd64", "arm64", 3]),
        "os": st.sampled_from(["linux", None]),
        "rootfs": st.fixed_dictionaries(
            {}, optional={"type": st.just("layers"), "diff_ids": st.lists(_digest, max_size=3)}),
        "config": _json_values,
        "history": st.lists(_json_values, max_size=2),
    },
)  # fmt: skip
_docker_manifest = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "Config": st.sampled_from(
                ["config.json", "a" * 64 + ".json", "../x", "blobs/sha256/x"]),
            "RepoTags": st.none() | st.lists(st.text(max_size=30), max_size=2),
            "Layers": st.lists(st.sampled_from(["layer.tar", "l/layer.tar", "link", "/abs"]),
                               max_size=3),
        },
    ),
    max_size=3,
)  # fmt: skip


def _json_member(value: Any) -> bytes:
    return json.dumps(value).encode()


_archive_members = st.lists(
    st.one_of(
        st.tuples(st.just("manifest.json"), st.just(tarfile.REGTYPE),
                  _docker_manifest.map(_json_member) | _json_values.map(_json_member), st.just("")),
        st.tuples(st.just("index.json"), st.just(tarfile.REGTYPE),
                  _manifest_like.map(_json_member), st.just("")),
        st.tuples(st.sampled_from(["config.json", "a" * 64 + ".json", "blobs/sha256/" + "a" * 64]),
                  st.just(tarfile.REGTYPE), _config_like.map(_json_member), st.just("")),
        st.tuples(st.sampled_from(["layer.tar", "l/layer.tar"]), st.just(tarfile.REGTYPE),
                  st.builds(lambda m: _tar(m, tarfile.PAX_FORMAT), _members)
                  | st.binary(max_size=64),
                  st.just("")),
        st.tuples(st.sampled_from(["link", "l", "manifest.json", "blobs", "x/y"]),
                  st.sampled_from([tarfile.SYMTYPE, tarfile.LNKTYPE]), st.just(b""),
                  st.sampled_from(["../../etc/passwd", "/etc/passwd", "layer.tar", "l", "..",
                                   "x/../..", "link", "manifest.json"])),
        st.tuples(st.just("oci-layout"), st.just(tarfile.REGTYPE),
                  st.just(b'{"imageLayoutVersion":"1.0.0"}'), st.just("")),
    ),
    max_size=7,
)  # fmt: skip


def _archive_outcome(data: bytes) -> None:
    """Read `data` as an image archive in a fresh directory; check what it left there."""
    with tempfile.TemporaryDirectory(prefix="fuzz-archive-") as top:
        spool = Path(top) / "spool"
        with contextlib.suppress(ImageArchiveError):
            asyncio.run(read_image_archive(_chunks(data, 1000), spool))
        assert [p.name for p in Path(top).iterdir()] == ["spool"], "written outside the spool"
        for path in spool.rglob("*"):
            assert not path.is_symlink() and path.parent == spool, path


@FUZZ
@given(_archive_members, _formats, _flips, st.none() | st.integers(0, 1 << 20))
def test_image_archive_reader(
    members: list[tuple[str, bytes, bytes, str]],
    fmt: int,
    flips: list[tuple[int, int]],
    truncate: int | None,
) -> None:
    _count("image archive")
    data = _tar(members, fmt)
    # Mostly whole archives (their content is the point), some damaged.
    _archive_outcome(_mutate(data, flips, truncate) if flips and truncate else data)


@FUZZ
@given(st.sampled_from(seed_inputs()), _flips, st.none() | st.integers(0, 1 << 20))
def test_image_archive_reader_on_damaged_real_archives(
    seed: bytes, flips: list[tuple[int, int]], truncate: int | None
) -> None:
    _count("image archive damaged")
    _archive_outcome(_mutate(seed, flips, truncate))


@FUZZ
@given(st.binary(max_size=2048))
def test_image_archive_reader_on_noise(data: bytes) -> None:
    _count("image archive noise")
    _archive_outcome(data)


# -- manifests, configs, references, JSON ------------------------------------------------------


def _only(error: type[Exception], call: Callable[[], object]) -> None:
    with contextlib.suppress(error):
        call()


@FUZZ
@given(
    _manifest_like.map(_json_member) | _json_values.map(_json_member) | st.binary(max_size=200),
    st.none() | _descriptor.map(lambda d: d.get("mediaType")),
)
def test_manifest_parsing(data: bytes, media_type: str | None) -> None:
    _count("manifest")
    try:
        parsed = parse_manifest(data, media_type)
    except ManifestError:
        return
    if isinstance(parsed, Index):
        _only(ManifestError, lambda: select_manifest(parsed))


@FUZZ
@given(_config_like.map(_json_member) | _json_values.map(_json_member) | st.binary(max_size=200))
def test_image_config_parsing(data: bytes) -> None:
    _count("image config")
    _only(ManifestError, lambda: parse_image_config(data))


@FUZZ
@given(st.text(max_size=300) | st.from_regex(r"[a-z0-9.:/@_-]{0,80}", fullmatch=True))
def test_reference_parsing(text: str) -> None:
    _count("reference")
    _only(InvalidReferenceError, lambda: parse_docker_ref(text))
    _only(InvalidReferenceError, lambda: parse_normalized_named(text))


@FUZZ
@given(_json_values.map(_json_member) | st.binary(max_size=300))
def test_go_json_syntax_messages(data: bytes) -> None:
    _count("json syntax")
    message = go_syntax_error(data)
    try:
        json.JSONDecoder().raw_decode(data.decode("utf-8", "replace").lstrip(" \t\r\n"))
    except ValueError:
        return  # Python refused it: any message (or none, for what only Python refuses)
    assert message is None or message.startswith("invalid character") or "EOF" in message


# -- coverage-guided (atheris) -----------------------------------------------------------------

ATHERIS_ARGS = ["-max_total_time=1800"] if LONG else ["-runs=3000", "-seed=1"]


def test_atheris_run_on_the_tar_and_archive_readers(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "tests.unit.fuzz.atheris_parsers", *ATHERIS_ARGS, str(corpus)],
        capture_output=True, text=True, timeout=2400 if LONG else 300,
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )  # fmt: skip
    done = [line for line in result.stderr.splitlines() if "DONE" in line or "Done" in line]
    print("\natheris:", " | ".join(done))
    # libFuzzer exits non-zero on a crash, having saved the input as crash-<sha1> in cwd.
    assert result.returncode == 0, result.stderr[-6000:]
    assert done, result.stderr[-3000:]
