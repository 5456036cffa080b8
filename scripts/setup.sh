#!/usr/bin/env bash
# Idempotent set-up of everything moorage and its tests need on Debian 12, as root:
# system packages (containerd, runc, busybox-static, docker CLI) and a pinned venv.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(containerd runc busybox-static docker-registry apache2-utils procps curl iproute2 nftables docker-compose gcc libc6-dev openssl util-linux)
command -v docker >/dev/null 2>&1 || apt_packages+=(docker.io)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || apt_packages+=(python3-venv)

missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's containerd package may start a system containerd; moorage and its tests
# never use it (they run their own), so it is left alone.

stamp=.venv/.moorage-lock-sha256
want=$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: preparing the Python environment in .venv" >&2
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r requirements.lock
    .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
    echo "$want" > "$stamp"
fi
