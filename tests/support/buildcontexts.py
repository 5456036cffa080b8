"""Build contexts shared by the builder's tests and the build benchmark: written to a
directory, then sent by the docker CLI, the SDK or compose."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

# A multi-stage Dockerfile that uses every instruction the classic builder knows.
EVERY_INSTRUCTION = """\
ARG BASE=busybox
FROM ${BASE} AS tools
ARG GREETING=hello
ENV TOOL_DIR=/opt/tools
WORKDIR $TOOL_DIR
RUN echo "$GREETING from the tools stage" > greeting.txt && echo built-tools
COPY --chown=1000:1000 data/ ./data/
ADD archive.tar.gz /opt/unpacked/
ONBUILD RUN echo "a trigger ran" > /onbuild.txt

FROM busybox
MAINTAINER Tess Ter <tess@example.com>
ARG GREETING
ARG VERSION=1.0
LABEL org.example.version=$VERSION "org.example.title"="every instruction"
ENV APP_HOME=/srv/app PATH=/srv/app/bin:$PATH
WORKDIR ${APP_HOME}
COPY --from=tools /opt/tools/greeting.txt ./
COPY --from=0 /opt/unpacked/inside.txt ./unpacked.txt
COPY app.sh bin/
ADD notes.txt ./
RUN chmod 755 bin/app.sh && echo "$GREETING $VERSION" > args.txt
SHELL ["/bin/sh", "-ec"]
RUN test -f greeting.txt
USER 1000:1000
EXPOSE 8080 9090/udp
VOLUME ["/srv/app/state"]
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD test -f /srv/app/args.txt
STOPSIGNAL SIGUSR1
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh", "/srv/app/bin/app.sh"]
CMD ["--flag"]
"""

APP_SH = """\
echo "args: $*"
cat /srv/app/greeting.txt /srv/app/unpacked.txt /srv/app/args.txt /srv/app/notes.txt
ls -n /opt 2>/dev/null | wc -l
"""


def files_tar(files: dict[str, bytes], *, gzip: bool = False, mtime: int = 0) -> bytes:
    """A tar (a build context) of `files`, path -> content, each mode 0644."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzip else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = mtime
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def every_instruction_files() -> dict[str, bytes]:
    return {
        "Dockerfile": EVERY_INSTRUCTION.encode(),
        "app.sh": APP_SH.encode(),
        "notes.txt": b"some notes\n",
        "data/one.txt": b"one\n",
        "data/sub/two.txt": b"two\n",
        "archive.tar.gz": files_tar(
            {"inside.txt": b"from inside the archive\n"}, gzip=True, mtime=1_700_000_000
        ),
        "ignored.log": b"must not reach the image\n",
        ".dockerignore": b"*.log\n",
    }


# Ten steps for the benchmark: a mix of metadata, COPY and RUN.
TEN_STEPS = """\
FROM busybox
ENV APP=/app
WORKDIR /app
COPY a.txt ./
RUN echo one > one.txt
COPY b.txt ./
RUN cat a.txt b.txt > both.txt
LABEL bench=build
RUN ls -l > listing.txt
CMD ["cat", "/app/both.txt"]
"""


def ten_step_files() -> dict[str, bytes]:
    return {"Dockerfile": TEN_STEPS.encode(), "a.txt": b"a\n" * 1000, "b.txt": b"b\n" * 1000}


def write_context(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root
