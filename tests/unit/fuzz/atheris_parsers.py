"""Coverage-guided fuzz (atheris, libFuzzer) of the tar reader and the image archive reader.

Hypothesis (test_parsers.py) searches with shapes it is told about; libFuzzer mutates
bytes towards new branches of the instrumented parsers, so it reaches states nobody
thought of. Run as a program; libFuzzer's flags bound it::

    python -m tests.unit.fuzz.atheris_parsers -runs=3000 -seed=1 CORPUS    # CI (test_parsers)
    python -m tests.unit.fuzz.atheris_parsers -max_total_time=1800 CORPUS  # long

An empty CORPUS directory is first given seeds (`seed_inputs`): a docker-save and an
OCI-layout archive of a small image and tars in each format, so that mutation starts
from inputs that pass the checksums.

Each input goes to the tar reader and, as a whole archive, to the image archive
reader in a fresh spool directory. Anything but the parsers' own errors, or a file
written outside the spool, stops the run with the input saved by libFuzzer
(``crash-<sha1>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from daemon.images.archive import ImageArchiveError, read_image_archive
    from daemon.tario import TarFormatError, TarReader

# After the instrumented imports: what the seeds import need not be instrumented first.
from tests.unit.fuzz.seeds import seed_inputs


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 700):
        yield data[start : start + 700]


async def _read_tar(data: bytes) -> None:
    reader = TarReader(_chunks(data))
    async for member in reader.members():
        size = 0
        async for chunk in reader.chunks():
            size += len(chunk)
        if member.type.value == "file" and size != member.size:
            raise AssertionError(f"{member.name!r}: {size} bytes read of {member.size}")


def test_one_input(data: bytes) -> None:
    with contextlib.suppress(TarFormatError):
        asyncio.run(_read_tar(data))
    with tempfile.TemporaryDirectory(prefix="atheris-archive-") as top:
        with contextlib.suppress(ImageArchiveError):
            asyncio.run(read_image_archive(_chunks(data), Path(top) / "spool"))
        left = [p.name for p in Path(top).iterdir()]
        if left != ["spool"]:
            raise AssertionError(f"written outside the spool: {left}")


def _seed_empty_corpora(args: list[str]) -> None:
    for arg in args[1:]:
        corpus = Path(arg)
        if not arg.startswith("-") and corpus.is_dir() and not any(corpus.iterdir()):
            for seed in seed_inputs():
                (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)


def main() -> None:
    _seed_empty_corpora(sys.argv)
    atheris.Setup([*sys.argv, "-max_len=65536"], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
