#!/usr/bin/env bash
# What seccomp costs at start: mooraged vs the floor with dockerd's spec (bench/seccomp_cost.py).
# Needs root; installs what is missing (scripts/setup.sh, scripts/install-dockerd.sh).
#   bench/seccomp_cost.sh [-n 15] [--rounds 2] [--out FILE]
#   bench/seccomp_cost.sh --smoke      # a few seconds: that it still runs
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/prereqs.sh
exec .venv/bin/python -m bench.seccomp_cost "$@"
