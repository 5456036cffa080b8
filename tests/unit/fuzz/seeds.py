"""Well-formed inputs for the parser fuzzers to start from (and mutate)."""

from __future__ import annotations

import io
import tarfile

from daemon.images import mediatypes
from tests.support.imagefactory import (
    TarBuilder,
    add_image_blobs,
    docker_save,
    make_image,
    oci_index,
)
from tests.support.images import descriptor


def seed_inputs() -> list[bytes]:
    """Well-formed inputs: archives of a small image, and tars in the three formats."""
    image = make_image([1], layer_size=40)
    oci = TarBuilder().json("oci-layout", {"imageLayoutVersion": "1.0.0"})
    oci.file("index.json", oci_index([descriptor(mediatypes.DOCKER_MANIFEST, image.manifest)]))
    seeds = [docker_save([(image, ["fuzz:seed"])]), add_image_blobs(oci, image).build()]
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
            info = tarfile.TarInfo("d/" + "n" * (90 if fmt == tarfile.USTAR_FORMAT else 120))
            info.size = 5
            tar.addfile(info, io.BytesIO(b"hello"))
            link = tarfile.TarInfo("l")
            link.type, link.linkname = tarfile.SYMTYPE, info.name
            tar.addfile(link)
        seeds.append(out.getvalue())
    return seeds
