# One image for the services of the root docker-compose.yml: containerd and runc, mooraged,
# and the tests. Online it is the ordinary build: Debian's packages on debian:bookworm-slim
# and the locked Python packages from PyPI. Offline, scripts/compose-env.sh passes
# BASE=<a debootstrap'd bookworm that already has the packages> and PIP_OFFLINE=--no-index
# with the wheelhouse it prepared in .wheelhouse/.
ARG BASE=debian:bookworm-slim
FROM ${BASE}

# The packages not already in the base (none, for the offline base).
ARG PACKAGES="containerd runc python3 python3-venv curl ca-certificates iproute2 nftables procps util-linux busybox-static"
RUN missing=""; \
    for p in $PACKAGES; do \
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"; \
    done; \
    if [ -n "$missing" ]; then \
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# The locked Python packages, before the source so that a source change keeps this layer.
# `.wheelhouse*` matches nothing online; offline its wheels land in /src/.
ARG PIP_OFFLINE=""
COPY requirements.lock pyproject.toml .wheelhouse* /src/
RUN python3 -m venv /opt/moorage \
    && /opt/moorage/bin/pip install --disable-pip-version-check -q $PIP_OFFLINE \
        --find-links /src -r /src/requirements.lock \
    && rm -f /src/*.whl /src/*.tar.gz

COPY . /src
WORKDIR /src
ENV PATH=/opt/moorage/bin:$PATH PYTHONPATH=/src PYTHONDONTWRITEBYTECODE=1
CMD ["python", "-m", "mooraged", "--help"]
