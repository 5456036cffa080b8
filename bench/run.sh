#!/usr/bin/env bash
# moorage against dockerd 20.10 on one private containerd; writes bench/RESULTS.md.
# Needs root, containerd + runc (scripts/setup.sh), the venv, and Debian's docker.io
# for /usr/sbin/dockerd 20.10 (installed here if missing). Arguments go to bench/compare.py:
#   bench/run.sh [-n 20] [--concurrency 20] [--rounds 3] [--daemons dockerd,moorage] [--logs DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/prereqs.sh
exec .venv/bin/python -m bench.compare "$@"
