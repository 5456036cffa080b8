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
scripts/install-dockerd.sh
exec .venv/bin/python -m bench.compare "$@"
