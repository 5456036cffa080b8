#!/usr/bin/env bash
# moorage against dockerd 20.10 on one private containerd; writes bench/RESULTS.md.
# Needs root, containerd + runc (scripts/setup.sh), the venv, and Debian's docker.io
# for /usr/sbin/dockerd 20.10 (installed here if missing). Arguments go to bench/compare.py:
#   bench/run.sh [-n 20] [--concurrency 20] [--rounds 3] [--daemons dockerd,moorage] [--logs DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: run as root" >&2
    exit 2
fi
[ -x .venv/bin/python ] && command -v containerd >/dev/null && command -v runc >/dev/null \
    || scripts/setup.sh
if ! command -v dockerd >/dev/null 2>&1; then
    echo "bench: installing Debian's docker.io for dockerd 20.10" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Only the binaries are wanted: no docker service is started (where a policy-rc.d
    # forbids it, as in containers) and none is left running either way.
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io >/dev/null
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl stop docker.service docker.socket >/dev/null 2>&1 || true
    fi
fi
exec .venv/bin/python -m bench.compare "$@"
