#!/usr/bin/env bash
# CPU per container lifecycle: moorage vs dockerd 20.10 vs the floor (bench/lifecycle.py).
# Needs root; installs what is missing (scripts/setup.sh, scripts/install-dockerd.sh).
#   bench/lifecycle.sh [-n 40] [--rounds 3] [--concurrency 1,8] [--scale 200] [--out FILE]
#   bench/lifecycle.sh --smoke        # a few seconds: that it still runs
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: run as root" >&2
    exit 2
fi
[ -x .venv/bin/python ] && command -v containerd >/dev/null && command -v runc >/dev/null \
    || scripts/setup.sh
scripts/install-dockerd.sh
exec .venv/bin/python -m bench.lifecycle "$@"
