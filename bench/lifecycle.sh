#!/usr/bin/env bash
# CPU per container lifecycle: moorage vs dockerd 20.10 vs the floor (bench/lifecycle.py).
# Needs root; installs what is missing (scripts/setup.sh, scripts/install-dockerd.sh).
#   bench/lifecycle.sh [-n 40] [--rounds 3] [--concurrency 1,8] [--scale 200] [--out FILE]
#   bench/lifecycle.sh --smoke        # a few seconds: that it still runs
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/prereqs.sh
exec .venv/bin/python -m bench.lifecycle "$@"
