#!/usr/bin/env bash
# The docker SDK's own integration tests (docker-py, at the version requirements.lock pins)
# as a peer suite: run against mooraged and then against dockerd 20.10, both on one
# private containerd, and compared. As root on Debian; installs what it lacks.
#   scripts/sdk-peer.sh [--short] [--docker-py PATH] [--logs DIR] [--out FILE] [pytest ids]
# docker-py's tests come from the pinned version's sdist when it ships them, else from
# --docker-py PATH (or $DOCKER_PY_SRC): a checkout, or a git directory holding the tag.
# Other options: see `.venv/bin/python -m bench.sdk_peer --help`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "sdk-peer: run as root" >&2
    exit 2
fi
[ -x .venv/bin/python ] && command -v containerd >/dev/null && command -v runc >/dev/null \
    && [ -x /bin/busybox ] || scripts/setup.sh
scripts/install-dockerd.sh
# unshare (util-linux) and ip (iproute2) give each engine and pytest a network namespace;
# git reads the tests out of a docker-py git directory.
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v git >/dev/null 2>&1 || missing+=(git)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "sdk-peer: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The SDK tests' own venv: the pinned SDK and pytest (constrained by requirements.lock)
# and what docker-py's tests import besides (paramiko; websocket-client for attach over a
# websocket). Kept apart from .venv so the project's environment stays exactly the lock.
sdk_venv=.venv-sdk-peer
sdk_packages=(docker websocket-client pytest pytest-timeout paramiko)
stamp=$sdk_venv/.sdk-peer-sha256
want=$( (cat requirements.lock; echo "${sdk_packages[*]}") | sha256sum | cut -d' ' -f1)
if [ ! -x "$sdk_venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "sdk-peer: preparing the SDK tests' environment in $sdk_venv" >&2
    python3 -m venv "$sdk_venv"
    "$sdk_venv/bin/pip" install -q --disable-pip-version-check -c requirements.lock \
        "${sdk_packages[@]}"
    echo "$want" > "$stamp"
fi
exec .venv/bin/python -m bench.sdk_peer --sdk-python "$PWD/$sdk_venv/bin/python" "$@"
